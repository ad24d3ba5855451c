//! What a policy can know about a component from its bytes alone, without
//! compiling it: size, digest, the interfaces it imports and exports, its
//! custom sections and the producers section (language and toolchain,
//! <https://github.com/WebAssembly/tool-conventions/blob/main/ProducersSection.md>).

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use wasmparser::{KnownCustom, Parser, Payload};

/// `input.component` in the policy input.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentFacts {
    /// Bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// `"component"` or `"module"` (a core module, run as a command).
    pub kind: &'static str,
    /// Top-level imports (for a core module: `module/name`).
    pub imports: Vec<Interface>,
    /// Top-level exports.
    pub exports: Vec<Interface>,
    /// Names of the custom sections, in the component and every module
    /// or component nested in it.
    pub custom_sections: BTreeSet<String>,
    /// The producers sections merged: field (`language`, `processed-by`,
    /// `sdk`) -> tool name -> versions.
    pub producers: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

/// One import or export name, split the WIT way:
/// `wasi:http/outgoing-handler@0.2.0` is package `wasi:http`, interface
/// `outgoing-handler`, version `0.2.0`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interface {
    pub name: String,
    pub package: Option<String>,
    pub interface: Option<String>,
    pub version: Option<String>,
}

impl Interface {
    fn parse(name: &str) -> Interface {
        let (path, version) = match name.split_once('@') {
            Some((path, version)) => (path, Some(version.to_string())),
            None => (name, None),
        };
        let (package, interface) = match path.split_once('/') {
            Some((package, interface)) if package.contains(':') => {
                (Some(package.to_string()), Some(interface.to_string()))
            }
            _ => (None, None),
        };
        Interface {
            name: name.to_string(),
            package,
            interface,
            version,
        }
    }
}

/// Reads the facts of `bytes`.
///
/// # Errors
/// The bytes are not a well-formed component or core module; the message
/// says where parsing stopped.
pub fn facts(bytes: &[u8]) -> Result<ComponentFacts, String> {
    use crate::world::BinaryKind;
    let kind = match crate::world::binary_kind(bytes) {
        BinaryKind::Component => "component",
        BinaryKind::CoreModule => "module",
        BinaryKind::NotWasm => return Err("not a WebAssembly component or module".into()),
    };
    let mut out = ComponentFacts {
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        kind,
        imports: Vec::new(),
        exports: Vec::new(),
        custom_sections: BTreeSet::new(),
        producers: BTreeMap::new(),
    };
    // Nested modules and components come inline; `depth` says whose
    // sections these are (0: the top level).
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("malformed at byte {}: {e}", e.offset()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| e.to_string())?;
                    out.imports.push(Interface::parse(import.name.name));
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    out.exports.push(Interface::parse(export.name.name));
                }
            }
            Payload::ImportSection(reader) if depth == 0 => {
                for imports in reader {
                    for import in imports.map_err(|e| e.to_string())? {
                        let (_, import) = import.map_err(|e| e.to_string())?;
                        out.imports.push(Interface::parse(&format!(
                            "{}/{}",
                            import.module, import.name
                        )));
                    }
                }
            }
            Payload::ExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    out.exports.push(Interface::parse(export.name));
                }
            }
            Payload::CustomSection(section) => {
                out.custom_sections.insert(section.name().to_string());
                if let KnownCustom::Producers(reader) = section.as_known() {
                    for field in reader.into_iter().flatten() {
                        let tools = out.producers.entry(field.name.to_string()).or_default();
                        for value in field.values.into_iter().flatten() {
                            tools
                                .entry(value.name.to_string())
                                .or_default()
                                .insert(value.version.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_split_into_package_interface_and_version() {
        let i = Interface::parse("wasi:http/outgoing-handler@0.2.0");
        assert_eq!(i.package.as_deref(), Some("wasi:http"));
        assert_eq!(i.interface.as_deref(), Some("outgoing-handler"));
        assert_eq!(i.version.as_deref(), Some("0.2.0"));
        let plain = Interface::parse("run");
        assert_eq!((plain.package, plain.version), (None, None));
    }

    #[test]
    fn bytes_that_are_not_wasm_are_refused() {
        assert!(facts(b"not wasm").is_err());
    }

    #[test]
    fn a_core_module_lists_its_imports_exports_and_producers() {
        let wat = wat_module();
        let f = facts(&wat).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(f.kind, "module");
        assert_eq!(f.imports[0].name, "env/log");
        assert_eq!(f.exports[0].name, "run");
        assert!(f.custom_sections.contains("producers"), "{f:?}");
        assert!(f.producers["language"].contains_key("Rust"), "{f:?}");
    }

    /// A module importing `env.log`, exporting `run`, with a producers
    /// section naming Rust, encoded by hand (no assembler needed).
    fn wat_module() -> Vec<u8> {
        fn name(s: &str) -> Vec<u8> {
            let mut v = vec![s.len() as u8];
            v.extend_from_slice(s.as_bytes());
            v
        }
        fn section(id: u8, body: Vec<u8>) -> Vec<u8> {
            let mut v = vec![id, body.len() as u8];
            v.extend(body);
            v
        }
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend(section(1, vec![1, 0x60, 0, 0])); // type 0: [] -> []
        let mut import = vec![1];
        import.extend(name("env"));
        import.extend(name("log"));
        import.extend([0, 0]); // func of type 0
        m.extend(section(2, import));
        m.extend(section(3, vec![1, 0])); // one function of type 0
        let mut export = vec![1];
        export.extend(name("run"));
        export.extend([0, 1]); // func 1
        m.extend(section(7, export));
        m.extend(section(10, vec![1, 2, 0, 0x0b])); // body: no locals, end
        let mut producers = name("producers");
        producers.push(1); // one field
        producers.extend(name("language"));
        producers.push(1);
        producers.extend(name("Rust"));
        producers.extend(name("1.95"));
        m.extend(section(0, producers));
        m
    }
}
