#!/usr/bin/env bash
# Checks the book the way a reader uses it: every complete example of the *rendered* book (every
# Rust listing with a `fn main`, as its copy button copies it: hidden lines left out) is built in a
# fresh crate outside the workspace, whose `[dependencies]` are exactly the quickstart's list (with
# `chronicle` pointing at this repository's `runtime/`), on the edition `cargo new` gives. Warnings
# fail the check, since a reader would see them. Each example is then run, in the scratch folder.
#
#   book/check-as-a-user.sh            build and run every complete example
#   book/check-as-a-user.sh --no-run   build them only
#
# The workspace's Cargo.lock is copied in and the build is `--offline`, so versions match the
# workspace's and nothing is downloaded. Builds share a target folder that outlives the scratch
# crate ($CHRONICLE_USER_CHECK_TARGET, default $TMPDIR/chronicle-user-check-target), so a second
# run only rebuilds the examples. Needs mdbook (0.5) and python3.
set -euo pipefail

run=1
case "${1:-}" in
    --no-run) run=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-run]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mdbook="${MDBOOK:-$(command -v mdbook || echo "$HOME/.cargo/bin/mdbook")}"
tmp="${TMPDIR:-/tmp}"
target="${CHRONICLE_USER_CHECK_TARGET:-$tmp/chronicle-user-check-target}"
scratch="$(mktemp -d "$tmp/chronicle-user-check.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

echo "== rendering the book"
if ! "$mdbook" build "$repo/book" -d "$scratch/rendered" >"$scratch/mdbook.log" 2>&1; then
    cat "$scratch/mdbook.log" >&2
    exit 1
fi
if grep -E 'WARN|ERROR' "$scratch/mdbook.log" >&2; then
    echo "mdbook printed warnings or errors" >&2
    exit 1
fi

echo "== extracting the quickstart's dependencies and the complete examples"
mkdir -p "$scratch/app/src/bin"
python3 - "$scratch/rendered" "$scratch/app" "$repo" <<'PY'
import html, pathlib, re, sys

rendered, app, repo = map(pathlib.Path, sys.argv[1:])
summary = (repo / "book/src/SUMMARY.md").read_text()
chapters = re.findall(r"\]\(([^)]+)\.md\)", summary)

def listings(page, language):
    """The listings of `language` in a rendered page, as a reader copies them."""
    text = (rendered / f"{page}.html").read_text()
    main = text[text.index("<main>"):text.index("</main>")]
    pattern = r'<code class="language-%s(?: [^"]*)?">(.*?)</code>' % language
    for block in re.findall(pattern, main, re.S):
        # Hidden lines (`# ` in the source) are not copied by the copy button.
        block = re.sub(r'<span class="boring">.*?</span>', "", block, flags=re.S)
        yield html.unescape(re.sub(r"<[^>]+>", "", block))

deps = [b for b in listings("quickstart", "toml") if "[dependencies]" in b]
if len(deps) != 1:
    sys.exit("the quickstart must show exactly one [dependencies] listing, found %d" % len(deps))
lines = deps[0].strip().splitlines()
if not any(re.match(r"chronicle\s*=", l) for l in lines):
    sys.exit("the quickstart's dependencies do not list chronicle")
lines = [
    'chronicle = { path = "%s" }' % (repo / "runtime") if re.match(r"chronicle\s*=", l) else l
    for l in lines
]
(app / "Cargo.toml").write_text(
    '[package]\nname = "chronicle-user-check"\nversion = "0.1.0"\nedition = "2024"\npublish = false\n\n'
    + "\n".join(lines)
    + '\n\n[lints.rust]\nwarnings = "deny"\n\n[workspace]\n'
)

examples = []
for chapter in chapters:
    for n, code in enumerate(b for b in listings(chapter, "rust") if re.search(r"\bfn main\(", b)):
        name = f"{chapter}-{n + 1}"
        (app / "src/bin" / f"{name}.rs").write_text(code)
        examples.append(name)
if not examples:
    sys.exit("found no complete example in the book")
(app / "examples.txt").write_text("\n".join(examples) + "\n")
print("dependencies:\n  " + "\n  ".join(lines[1:]))
print("complete examples: " + ", ".join(examples))
PY
cp "$repo/Cargo.lock" "$scratch/app/Cargo.lock"

echo "== building them (target folder $target)"
start=$(date +%s)
CARGO_TARGET_DIR="$target" cargo build --offline --bins --manifest-path "$scratch/app/Cargo.toml"
echo "built in $(( $(date +%s) - start )) s"

if [ "$run" = 1 ]; then
    echo "== running them"
    while read -r example; do
        echo "-- $example"
        (cd "$scratch/app" && "$target/debug/$example")
    done <"$scratch/app/examples.txt"
fi
echo "== every complete example of the book compiles with the quickstart's dependencies"
