"""README.md is index.ipynb rendered as Markdown (Quarto is not available everywhere, so we render it ourselves).

python .ci/readme.py          write README.md from nbs/index.ipynb
python .ci/readme.py --check  fail if README.md is out of step with nbs/index.ipynb

What differs from the docs site, because GitHub shows README.md from the repository root:
- links to chapter pages (`model.html`) point at the published site (doc_host + doc_baseurl in settings.ini);
- pictures next to the notebooks (`screenshots/x.png`) are addressed from the root (`nbs/screenshots/x.png`);
- a widget cannot be shown, so a demo's output becomes its screenshot from the browser tests (WIDGET_PICTURES);
- `#| hide` cells, stderr and rich outputs (pictures drawn by code) are left out; stdout and plain results are kept.
"""
import configparser, json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
WIDGET_PICTURES = {  # a code cell that makes this widget -> the picture that stands for its output
    "ImageCaptionDemo(": ("The image demo", "screenshots/image_demo.png"),
    "VideoCaptionDemo(": ("The video demo", "screenshots/video_demo.png"),
}

def _site() -> str:
    cfg = configparser.ConfigParser(); cfg.read(root/"settings.ini")
    d = cfg["DEFAULT"]
    return d["doc_host"].rstrip("/") + "/" + d["doc_baseurl"].strip("/")

def _markdown(src: str, site: str) -> str:
    if src.startswith("# "): src = re.sub(r"^> (.*)$", r"*\1*", src, flags=re.M)
    src = re.sub(r"\]\((?![a-z]+:|/|#)([\w./-]+\.html)(#[\w-]*)?\)", lambda m: f"]({site}/{m[1]}{m[2] or ''})", src)
    return re.sub(r"\]\((?![a-z]+:|/|#)([\w./-]+\.(?:png|jpe?g|gif|svg))\)", r"](nbs/\1)", src)

def _outputs(cell: dict, code: str) -> list:
    parts = []
    for o in cell.get("outputs", []):
        data = o.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data:
            alt, pic = next((v for k, v in WIDGET_PICTURES.items() if k in code), ("an interactive widget", None))
            parts.append(f"![{alt} (a screenshot from the browser tests)](nbs/{pic})" if pic else
                         f"*({alt}: open the notebook in JupyterLab, or see the docs site)*")
            continue
        if o.get("output_type") == "stream" and o.get("name") != "stdout": continue
        text = "".join(o.get("text", "") if o.get("output_type") == "stream" else
                       ("" if set(data) & {"image/png", "image/jpeg", "text/html", "text/markdown"} else data.get("text/plain", "")))
        if text.strip(): parts.append(f"```\n{text.rstrip()}\n```")
    return parts

def render() -> str:
    cells = json.loads((root/"nbs/index.ipynb").read_text(encoding="utf-8"))["cells"]
    site, parts = _site(), []
    for c in cells:
        src = "".join(c["source"]).strip()
        if c["cell_type"] == "markdown": parts.append(_markdown(src, site))
        elif c["cell_type"] == "code" and not re.search(r"^#\|\s*hide\s*$", src, re.M):
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
            parts.append(f"```python\n{code}\n```")
            parts.extend(_outputs(c, code))
    return "<!-- Generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file. -->\n\n" + "\n\n".join(parts) + "\n"

if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if (root/"README.md").read_text(encoding="utf-8") != text:
            sys.exit("README.md is out of step with nbs/index.ipynb: run python .ci/readme.py")
    else: (root/"README.md").write_text(text, encoding="utf-8")
