//! Sources the realistic work builds and tests, generated so that every machine builds the same
//! thing: a C program of many small files with a Makefile, a Rust crate of several modules
//! without dependencies, and a Python unittest suite that works with files.

use std::fmt::Write as _;

/// `count` C files (`src/fNN.c`, each with `functions` functions), a shared header, `src/main.c`
/// calling every file's entry point, and a Makefile that builds objects in `obj/` and links `prog`.
pub fn c_project(count: usize, functions: usize) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut header = String::from(
        "#ifndef BENCH_COMMON_H\n#define BENCH_COMMON_H\n#include <stddef.h>\n#include <stdint.h>\n\n\
         struct record {\n    uint32_t id;\n    int32_t weight;\n    char name[24];\n    double score;\n};\n\n\
         static inline uint32_t mix(uint32_t x) {\n    x ^= x >> 16;\n    x *= 0x7feb352dU;\n    x ^= x >> 15;\n    \
         return x;\n}\n\n",
    );
    for file in 0..count {
        let _ = writeln!(header, "int f{file:02}_entry(int seed);");
    }
    header.push_str("\n#endif\n");
    files.push(("src/common.h".to_string(), header));

    for file in 0..count {
        let mut text =
            String::from("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"common.h\"\n\n");
        for function in 0..functions {
            let _ = write!(
                text,
                "static int compare_{function}(const void *a, const void *b) {{\n\
                 \x20   const struct record *x = a, *y = b;\n\
                 \x20   if (x->weight != y->weight) return x->weight < y->weight ? -1 : 1;\n\
                 \x20   return strcmp(x->name, y->name);\n}}\n\n\
                 static double work_{function}(struct record *records, size_t n, int seed) {{\n\
                 \x20   double total = 0.0;\n\
                 \x20   for (size_t i = 0; i < n; i++) {{\n\
                 \x20       records[i].id = mix((uint32_t)(i * {mul} + (size_t)seed));\n\
                 \x20       records[i].weight = (int32_t)(records[i].id % {modulo}) - {half};\n\
                 \x20       snprintf(records[i].name, sizeof records[i].name, \"r%u-%d\", records[i].id, {function});\n\
                 \x20       records[i].score = records[i].weight * 0.{function}5 + (double)i;\n\
                 \x20   }}\n\
                 \x20   qsort(records, n, sizeof *records, compare_{function});\n\
                 \x20   for (size_t i = 0; i < n; i++) {{\n\
                 \x20       switch (records[i].id % 4) {{\n\
                 \x20       case 0: total += records[i].score; break;\n\
                 \x20       case 1: total -= records[i].weight; break;\n\
                 \x20       case 2: total += strlen(records[i].name); break;\n\
                 \x20       default: total *= 0.999; break;\n\
                 \x20       }}\n\
                 \x20   }}\n\
                 \x20   return total;\n}}\n\n",
                mul = 31 + function * 2,
                modulo = 97 + file,
                half = 48 + function,
            );
        }
        let _ = write!(
            text,
            "int f{file:02}_entry(int seed) {{\n\
             \x20   struct record *records = calloc(64, sizeof *records);\n\
             \x20   double total = 0.0;\n\
             \x20   if (!records) return -1;\n"
        );
        for function in 0..functions {
            let _ = writeln!(text, "    total += work_{function}(records, 64, seed + {function});");
        }
        text.push_str("    free(records);\n    return (int)total;\n}\n");
        files.push((format!("src/f{file:02}.c"), text));
    }

    let mut main = String::from("#include <stdio.h>\n#include \"common.h\"\n\nint main(void) {\n    long total = 0;\n");
    for file in 0..count {
        let _ = writeln!(main, "    total += f{file:02}_entry({file});");
    }
    main.push_str("    printf(\"%ld\\n\", total);\n    return 0;\n}\n");
    files.push(("src/main.c".to_string(), main));

    files.push((
        "Makefile".to_string(),
        "CC = cc\nCFLAGS = -O1 -Wall\nSRCS = $(wildcard src/*.c)\nOBJS = $(SRCS:src/%.c=obj/%.o)\n\n\
         prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n\
         obj/%.o: src/%.c src/common.h | obj\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\n\
         obj:\n\tmkdir -p obj\n\n\
         clean:\n\trm -rf obj prog\n\n.PHONY: clean\n"
            .to_string(),
    ));
    files
}

/// A binary crate `bench-crate` with `modules` modules of `items` types each, and no dependencies.
pub fn rust_crate(modules: usize, items: usize) -> Vec<(String, String)> {
    let mut files = vec![(
        "Cargo.toml".to_string(),
        "[package]\nname = \"bench-crate\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n# Not part of any workspace it is generated in.\n[workspace]\n\n\
         [dependencies]\n"
            .to_string(),
    )];
    let mut main = String::new();
    for module in 0..modules {
        let _ = writeln!(main, "mod m{module};");
    }
    main.push_str("\nfn main() {\n    let mut total = 0u64;\n");
    for module in 0..modules {
        let _ = writeln!(main, "    total = total.wrapping_add(m{module}::run({module}));");
    }
    main.push_str("    println!(\"{total}\");\n}\n");
    files.push(("src/main.rs".to_string(), main));

    for module in 0..modules {
        let mut text = String::from(
            "use std::collections::{BTreeMap, HashMap};\nuse std::fmt;\n\n\
             pub trait Weigh {\n    fn weight(&self) -> u64;\n    fn label(&self) -> String {\n        \
             format!(\"w{}\", self.weight())\n    }\n}\n\n",
        );
        for item in 0..items {
            let _ = write!(
                text,
                "#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]\n\
                 pub struct Item{item} {{\n    pub id: u64,\n    pub name: String,\n    pub tags: Vec<String>,\n}}\n\n\
                 impl Weigh for Item{item} {{\n    fn weight(&self) -> u64 {{\n        \
                 self.id.wrapping_mul({mul}) ^ self.name.len() as u64 + self.tags.len() as u64\n    }}\n}}\n\n\
                 impl fmt::Display for Item{item} {{\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{\n        \
                 write!(f, \"{{}}:{{}}[{{}}]\", self.id, self.name, self.tags.join(\",\"))\n    }}\n}}\n\n\
                 pub fn build{item}(seed: u64) -> Vec<Item{item}> {{\n    (0..{count})\n        .map(|i| Item{item} {{\n            \
                 id: seed.wrapping_add(i * {mul}),\n            name: format!(\"item-{item}-{{i}}\"),\n            \
                 tags: (0..i % 5).map(|t| format!(\"t{{t}}\")).collect(),\n        }})\n        .collect()\n}}\n\n\
                 pub fn summarise{item}(items: &[Item{item}]) -> BTreeMap<u64, Vec<String>> {{\n    \
                 let mut groups: HashMap<u64, Vec<String>> = HashMap::new();\n    for item in items {{\n        \
                 groups.entry(item.weight() % 7).or_default().push(item.to_string());\n    }}\n    \
                 groups.into_iter().map(|(key, mut names)| {{ names.sort(); (key, names) }}).collect()\n}}\n\n",
                mul = 3 + item * 2 + module,
                count = 16 + item,
            );
        }
        text.push_str("pub fn total<T: Weigh>(items: &[T]) -> u64 {\n    items.iter().map(Weigh::weight).fold(0, u64::wrapping_add)\n}\n\n");
        text.push_str("pub fn run(seed: u64) -> u64 {\n    let mut sum = 0u64;\n");
        for item in 0..items {
            let _ = writeln!(
                text,
                "    let items = build{item}(seed);\n    sum = sum.wrapping_add(total(&items)).wrapping_add(summarise{item}(&items).len() as u64);"
            );
        }
        text.push_str("    sum\n}\n");
        files.push((format!("src/m{module}.rs"), text));
    }
    files
}

/// `modules` unittest modules of `tests_per_module` tests each; every test makes a directory,
/// writes a file, lists the directory, reads the file back, renames it and deletes both.
pub fn python_suite(modules: usize, tests_per_module: usize) -> Vec<(String, String)> {
    let mut files = vec![("tests/__init__.py".to_string(), String::new())];
    for module in 0..modules {
        let text = format!(
            "import os\nimport shutil\nimport tempfile\nimport unittest\n\n\
             SCRATCH = os.environ.get(\"BENCH_PY_SCRATCH\")\n\n\n\
             class FileTests(unittest.TestCase):\n\
             \x20   @classmethod\n\
             \x20   def setUpClass(cls):\n\
             \x20       cls.root = tempfile.mkdtemp(prefix=\"m{module:02}-\", dir=SCRATCH)\n\n\
             \x20   @classmethod\n\
             \x20   def tearDownClass(cls):\n\
             \x20       shutil.rmtree(cls.root)\n\n\n\
             def make(number):\n\
             \x20   def test(self):\n\
             \x20       lines = number % 7 + 1\n\
             \x20       directory = os.path.join(self.root, \"case%d\" % number)\n\
             \x20       os.mkdir(directory)\n\
             \x20       path = os.path.join(directory, \"data.txt\")\n\
             \x20       with open(path, \"w\") as handle:\n\
             \x20           handle.write(\"line %d\\n\" % number * lines)\n\
             \x20       self.assertEqual(os.listdir(directory), [\"data.txt\"])\n\
             \x20       with open(path) as handle:\n\
             \x20           self.assertEqual(handle.read().count(\"\\n\"), lines)\n\
             \x20       renamed = os.path.join(directory, \"renamed.txt\")\n\
             \x20       os.rename(path, renamed)\n\
             \x20       self.assertFalse(os.path.exists(path))\n\
             \x20       os.remove(renamed)\n\
             \x20       os.rmdir(directory)\n\
             \x20   return test\n\n\n\
             for number in range({tests_per_module}):\n\
             \x20   setattr(FileTests, \"test_%04d\" % number, make(number))\n"
        );
        files.push((format!("tests/test_files_{module:02}.py"), text));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_projects_have_the_asked_shape() {
        let c = c_project(3, 2);
        assert_eq!(
            c.iter().filter(|(path, _)| path.ends_with(".c")).count(),
            4,
            "3 files and main.c"
        );
        assert!(
            c.iter()
                .any(|(path, text)| path == "src/main.c" && text.contains("f02_entry(2)"))
        );
        let rust = rust_crate(8, 2);
        assert_eq!(rust.iter().filter(|(path, _)| path.starts_with("src/m")).count(), 9);
        let python = python_suite(2, 5);
        assert!(python.iter().any(|(_, text)| text.contains("range(5)")));
    }
}
