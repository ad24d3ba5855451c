"""A wasi:http/proxy handler in plain Python: greets the last path segment."""

from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)
from componentize_py_types import Ok


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = (request.path_with_query() or "/").split("?", 1)[0]
        name = path.rstrip("/").rsplit("/", 1)[-1] or "world"
        body = f"Hello, {name}, from Python!\n".encode()
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        response.set_status_code(200)
        out = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with out.write() as stream:
            stream.blocking_write_and_flush(body)
        OutgoingBody.finish(out, None)
