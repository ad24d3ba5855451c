// A wasi:http/proxy handler in JavaScript (fetch-event style).
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const name = url.pathname.replace(/\/+$/, "").split("/").pop() || "world";
  event.respondWith(
    new Response(`Hello, ${name}, from JavaScript!\n`, {
      headers: { "content-type": "text/plain" },
    }),
  );
});
