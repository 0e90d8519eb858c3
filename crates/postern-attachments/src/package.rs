//! What a zip is as a whole, from its entry names and (OOXML) its `[Content_Types].xml`:
//! an Office document with VBA macros or Excel 4.0 macro sheets, an OpenDocument file with
//! Basic modules or scripts, a Java archive. The file's own name is not asked: a `.docm`
//! renamed `.docx` or `.pdf` is found all the same.
//!
//! In: entry names (normalized: `/` separators, no leading `/` or `./`) and the content
//! types file's bytes when there is one. Out: the rules that apply, in order.

use crate::finding::Rule;

/// The rules the package earns, most specific first.
pub fn rules(names: &[&str], content_types: Option<&[u8]>) -> Vec<Rule> {
    let mut out = Vec::new();
    let has = |pred: &dyn Fn(&str) -> bool| names.iter().any(|n| pred(&n.to_ascii_lowercase()));
    let ooxml = has(&|n| n == "[content_types].xml");
    if ooxml {
        let types = String::from_utf8_lossy(content_types.unwrap_or_default()).to_ascii_lowercase();
        if has(&|n| n.ends_with("vbaproject.bin"))
            || types.contains("application/vnd.ms-office.vbaproject")
            || types.contains("macroenabled")
        {
            out.push(Rule::OoxmlVbaMacro);
        }
        if has(&|n| n.starts_with("xl/macrosheets/")) || types.contains("macrosheet") {
            out.push(Rule::XlmMacroSheet);
        }
    }
    let odf = has(&|n| n == "mimetype" || n == "meta-inf/manifest.xml") && !ooxml;
    if odf && has(&|n| odf_macro(n)) {
        out.push(Rule::OdfMacro);
    }
    if has(&|n| n == "meta-inf/manifest.mf") {
        out.push(Rule::JavaArchive);
    }
    out
}

/// A Basic module or a script of an OpenDocument file (the library indexes alone, which an
/// empty Standard library leaves behind, are no macro).
fn odf_macro(name: &str) -> bool {
    if name.ends_with('/') {
        return false;
    }
    let index = ["script-lc.xml", "script-lb.xml", "dialog-lc.xml", "dialog-lb.xml"];
    let file = name.rsplit('/').next().unwrap_or(name);
    (name.starts_with("basic/") && !index.contains(&file)) || name.starts_with("scripts/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCX_TYPES: &[u8] = br#"<Types><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    const DOCM_TYPES: &[u8] = br#"<Types><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>"#;

    #[test]
    fn clean_office_documents_earn_nothing() {
        let names = ["[Content_Types].xml", "_rels/.rels", "word/document.xml", "word/styles.xml"];
        assert!(rules(&names, Some(DOCX_TYPES)).is_empty());
        let ods = ["mimetype", "content.xml", "META-INF/manifest.xml", "Basic/script-lc.xml"];
        assert!(rules(&ods, None).is_empty());
    }

    #[test]
    fn vba_by_part_name_or_content_type() {
        let names = ["[Content_Types].xml", "word/document.xml", "word/vbaProject.bin"];
        assert_eq!(rules(&names, Some(DOCX_TYPES)), [Rule::OoxmlVbaMacro]);
        assert_eq!(rules(&names, None), [Rule::OoxmlVbaMacro], "content types too large to read");
        let renamed = ["[Content_Types].xml", "word/document.xml", "word/x.bin"];
        assert_eq!(rules(&renamed, Some(DOCM_TYPES)), [Rule::OoxmlVbaMacro]);
    }

    #[test]
    fn xlm_macro_sheets_odf_basic_and_jars() {
        let xlsm = ["[Content_Types].xml", "xl/workbook.xml", "xl/macrosheets/sheet1.xml"];
        assert_eq!(rules(&xlsm, Some(b"<Types/>")), [Rule::XlmMacroSheet]);
        let odt = ["mimetype", "content.xml", "Basic/Standard/Module1.xml", "Basic/script-lc.xml"];
        assert_eq!(rules(&odt, None), [Rule::OdfMacro]);
        let jar = ["META-INF/MANIFEST.MF", "com/example/Main.class"];
        assert_eq!(rules(&jar, None), [Rule::JavaArchive]);
    }
}
