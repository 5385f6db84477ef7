"""The lowest versions settings.ini allows, as a pip constraints file: `python .ci/minimums.py > minimums.txt`.

CI installs clipcap on the oldest Python with `pip install -c minimums.txt ...`, so every floor written in
settings.ini's `requirements` is one that installs and passes the tests. A requirement without a lower bound
(`>=`) is an error: a floor nobody chose is a floor nobody tested.

python .ci/minimums.py           print the constraints (`name==floor`, one a line)
python .ci/minimums.py --check   compare the installed versions with the floors; fail on any difference
"""
import configparser, re, shlex, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def floors() -> dict[str, str]:
    "`{distribution: lowest version}` from settings.ini's requirements."
    cfg = configparser.ConfigParser(delimiters=["="]); cfg.read(root/"settings.ini", encoding="utf-8")
    out, missing = {}, []
    for req in shlex.split(cfg["DEFAULT"]["requirements"]):
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*((?:[<>=!~]=?[^,;]+,?)*)", req)
        low = re.search(r">=\s*([^,;]+)", m[2]) if m else None
        if low: out[m[1]] = low[1].strip()
        else: missing.append(req)
    if missing: sys.exit(f"settings.ini: no lower bound (>=) for {', '.join(missing)}")
    return out

if __name__ == "__main__":
    if "--check" in sys.argv:
        from importlib.metadata import version as _version, PackageNotFoundError
        def version(name):
            try: return _version(name)
            except PackageNotFoundError: return "not installed"
        norm = lambda v: re.sub(r"(\.0)+$", "", v.split("+")[0])     # 2.2 == 2.2.0, 2.2.0+cpu == 2.2.0
        wrong = [f"{name} {version(name)} (floor {low})" for name, low in floors().items() if norm(version(name)) != norm(low)]
        if wrong: sys.exit("installed versions are not the floors: " + ", ".join(wrong))
        print(f"all {len(floors())} requirements at their floors")
    else: print("\n".join(f"{name}=={low}" for name, low in floors().items()))
