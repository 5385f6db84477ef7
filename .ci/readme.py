"""README.md is index.ipynb rendered as Markdown (Quarto is not available everywhere, so we render it ourselves).

python .ci/readme.py          write README.md from nbs/index.ipynb
python .ci/readme.py --check  fail if README.md is out of step with nbs/index.ipynb, or if .ci/run does not run
                              the test command README.md gives (an `nbdev_test ...` line in a sh block)

What differs from the docs site, because GitHub shows README.md from the repository root:
- links to chapter pages (`model.html`) point at the published site (doc_host + doc_baseurl in settings.ini);
- pictures next to the notebooks (`screenshots/x.png`) are addressed from the root (`nbs/screenshots/x.png`);
- a widget cannot be shown, so a demo's output becomes its screenshot from the browser tests (WIDGET_PICTURES);
- a picture a cell draws (a PNG output) is written next to the screenshots, nbs/screenshots/readme_figure_N.png;
- `#| hide` cells, stderr and HTML outputs are left out; stdout and plain results are kept.
"""
import base64, configparser, json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
WIDGET_PICTURES = {  # a code cell that makes this widget -> the picture that stands for its output, and what it shows
    "ImageCaptionDemo(": ("The image demo", "screenshots/image_demo.png",
                          "the quick demo's model (trained on drawn shapes) captioning four held-out drawings it never saw in training"),
    "VideoCaptionDemo(": ("The video demo", "screenshots/video_demo.png",
                          "the quick demo's model captioning the demo's four-scene clip, a frame a second, with the subtitles to download"),
}

def _site() -> str:
    cfg = configparser.ConfigParser(); cfg.read(root/"settings.ini")
    d = cfg["DEFAULT"]
    return d["doc_host"].rstrip("/") + "/" + d["doc_baseurl"].strip("/")

def _markdown(src: str, site: str) -> str:
    if src.startswith("# "): src = re.sub(r"^> (.*)$", r"*\1*", src, flags=re.M)
    src = re.sub(r"\]\((?![a-z]+:|/|#)([\w./-]+\.html)(#[\w-]*)?\)", lambda m: f"]({site}/{m[1]}{m[2] or ''})", src)
    return re.sub(r"\]\((?![a-z]+:|/|#)([\w./-]+\.(?:png|jpe?g|gif|svg))\)", r"](nbs/\1)", src)

def _outputs(cell: dict, code: str, figures: dict) -> list:
    parts = []
    for o in cell.get("outputs", []):
        data = o.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data:
            alt, pic, shows = next((v for k, v in WIDGET_PICTURES.items() if k in code), ("an interactive widget", None, None))
            parts.append(f"![{alt}](nbs/{pic})\n\n*{alt} in JupyterLab, from the browser tests: {shows}.*" if pic else
                         f"*({alt}: open the notebook in JupyterLab, or see the docs site)*")
            continue
        if "image/png" in data:
            name = f"screenshots/readme_figure_{len(figures) + 1}.png"
            figures[name] = base64.b64decode("".join(data["image/png"]))
            parts.append(f"![A picture drawn by the cell above](nbs/{name})")
            continue
        if o.get("output_type") == "stream" and o.get("name") != "stdout": continue
        text = "".join(o.get("text", "") if o.get("output_type") == "stream" else
                       ("" if set(data) & {"image/png", "image/jpeg", "text/html", "text/markdown"} else data.get("text/plain", "")))
        if text.strip(): parts.append(f"```\n{text.rstrip()}\n```")
    return parts

def render() -> tuple[str, dict]:
    "README.md's text, and the pictures it shows that come from the notebook's outputs (path under nbs/: bytes)."
    cells = json.loads((root/"nbs/index.ipynb").read_text(encoding="utf-8"))["cells"]
    site, parts, figures = _site(), [], {}
    for c in cells:
        src = "".join(c["source"]).strip()
        if c["cell_type"] == "markdown": parts.append(_markdown(src, site))
        elif c["cell_type"] == "code" and not re.search(r"^#\|\s*hide\s*$", src, re.M):
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
            parts.append(f"```python\n{code}\n```")
            parts.extend(_outputs(c, code, figures))
    head = "<!-- Generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file. -->\n\n"
    return head + "\n\n".join(parts) + "\n", figures

def test_commands(text: str) -> list[str]:
    "The `nbdev_test ...` command lines of the sh blocks in `text` (README.md), without their comments."
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S)
    return [l.split("#")[0].strip() for b in blocks for l in b.splitlines() if l.strip().startswith("nbdev_test")]

def check_ci(text: str) -> str | None:
    "Why .ci/run is out of step with README.md's test command, or None."
    commands, run = test_commands(text), (root/".ci/run").read_text(encoding="utf-8")
    if not commands: return "README.md gives no test command (an nbdev_test line in a sh block)"
    missing = [c for c in commands if not re.search(rf"^\s*{re.escape(c)}\s*(#.*)?$", run, flags=re.M)]
    return f".ci/run does not run README.md's test command {missing[0]!r}" if missing else None

if __name__ == "__main__":
    text, figures = render()
    stale = sorted(set((root/"nbs").glob("screenshots/readme_figure_*.png")) - {root/"nbs"/f for f in figures})
    if "--check" in sys.argv:
        wrong = [f for f, data in figures.items() if not (root/"nbs"/f).is_file() or (root/"nbs"/f).read_bytes() != data]
        if (root/"README.md").read_text(encoding="utf-8") != text or wrong or stale:
            sys.exit("README.md (or its pictures in nbs/screenshots) is out of step with nbs/index.ipynb: run python .ci/readme.py")
        if why := check_ci(text): sys.exit(why)
    else:
        for f, data in figures.items(): (root/"nbs"/f).write_bytes(data)
        for f in stale: f.unlink()
        (root/"README.md").write_text(text, encoding="utf-8")
