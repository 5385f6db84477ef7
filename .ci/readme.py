"""README.md is index.ipynb rendered as Markdown (Quarto is not available everywhere, so we render it ourselves).

python .ci/readme.py          write README.md from nbs/index.ipynb
python .ci/readme.py --check  fail if README.md is out of step with nbs/index.ipynb
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render() -> str:
    cells = json.loads((root/"nbs/index.ipynb").read_text(encoding="utf-8"))["cells"]
    parts = []
    for c in cells:
        src = "".join(c["source"]).strip()
        if c["cell_type"] == "markdown":
            src = re.sub(r"^> (.*)$", r"*\1*", src, flags=re.M) if src.startswith("# ") else src
            parts.append(src)
        elif c["cell_type"] == "code" and "#| hide" not in src:
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|"))
            parts.append(f"```python\n{code}\n```")
            for o in c.get("outputs", []):
                text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
                if text.strip(): parts.append(f"```\n{text.rstrip()}\n```")
    return "<!-- Generated from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file. -->\n\n" + "\n\n".join(parts) + "\n"

if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if (root/"README.md").read_text(encoding="utf-8") != text:
            sys.exit("README.md is out of step with nbs/index.ipynb: run python .ci/readme.py")
    else: (root/"README.md").write_text(text, encoding="utf-8")
