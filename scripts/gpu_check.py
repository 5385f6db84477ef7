#!/usr/bin/env python3
"""The GPU check: CUDA smoke tests of every captioning path, then `clipcap bench --device cuda`, in one short run.

Run it from the repository root on a machine with a GPU (CI never runs it; it needs no network):

    python scripts/gpu_check.py                       # CUDA: smoke tests, then the full bench (under 8 minutes on an H200)
    python scripts/gpu_check.py --device cpu --quick  # the same code on a CPU, to check the script itself
    python scripts/gpu_check.py --wheels              # here, before a lease: the packages the GPU machine lacks, into .whl/

With the `device` tool: run `--wheels` here first (PyAV, PySceneDetect and srt for Python 3.12, about 35 MB in .whl/,
which git ignores), then `run(command="python3 scripts/gpu_check.py", carry=[".whl"], timeout_s=540)`.

On CUDA it installs clipcap from this checkout without touching the installed PyTorch (`pip install --no-deps -e .`), and
reports which of clipcap's dependencies are missing (on a machine without network, carry them as wheels in `.whl/`:
they are installed from there first). Smoke tests: for each checkpoint layout (clipcap's own, the seed's, ClipCap's
MLP and transformer mappings), in bfloat16 and float32, with the tensor and the PIL preprocessing: greedy, beam and
sampled captions, and greedy through transformers' own modules; batch invariance of the token ids for batch sizes
1, 3, 32 and 33, for every layout and decoding, with the exact passes (`clipcap.model.EXACT_BATCH`) and without them
(to see whether the GPU's kernels need them), and for ConfigS-shaped backbones; the same tokens with and without
CUDA graphs; the tensor preprocessing on the device against CLIP's processor; two processes under torchrun; a
few training steps. Then the bench, with a time limit. Results go to `$OUT` (or `--out`): `gpu_check.json`,
`bench.json` and the logs; the exit status is 1 if any smoke test failed. Near the end of its time the bench is
interrupted (SIGINT), and `bench.json` keeps the parts it measured before.
"""
from __future__ import annotations
import argparse, importlib.util, json, os, platform, signal, subprocess, sys, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES = ["torch", "transformers", "tokenizers", "safetensors", "huggingface_hub", "PIL", "numpy", "pandas", "tqdm",
                "filelock", "accelerate", "matplotlib", "av", "scenedetect", "pycocoevalcap", "srt"]
WHEELS = ["av", "scenedetect-headless", "srt"]    # what the GPU machine's Python 3.12 lacks and the check uses (srt: built here)
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")    # no network there: never wait for the hub

def wheels(python: str = "3.12") -> int:
    "Download (or build) the wheels of `WHEELS` for the GPU machine's Python into .whl/ (run here, where pip reaches PyPI)."
    target = ROOT/".whl"; target.mkdir(exist_ok=True)
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")]
    for name in WHEELS:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", f"--python-version={python}",
               "--implementation=cp", *platforms, "-d", str(target), name]
        if subprocess.run(cmd, capture_output=True).returncode:        # no wheel on PyPI (srt): build a pure-Python one here
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(target), name], check=True)
    found = sorted(f.name for f in target.glob("*.whl"))
    log(f"{len(found)} wheels in {target}:", ", ".join(found))
    return 0 if len(found) >= len(WHEELS) else 1

def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)

def install(skip: bool) -> dict:
    "Install clipcap from this checkout (no dependencies: PyTorch stays as it is) and wheels from .whl/; what is missing."
    out = dict(pip=[])
    if not skip:
        wheels = sorted((ROOT/".whl").glob("*.whl"))
        steps = ([[sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", *map(str, wheels)]] if wheels else []) + \
                [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(ROOT)]]
        for cmd in steps:
            p = subprocess.run(cmd, capture_output=True, text=True)
            out["pip"].append(dict(cmd=" ".join(cmd[3:6]) + " ...", returncode=p.returncode, stderr=p.stderr[-500:]))
            log("pip", *cmd[4:6], "->", "ok" if p.returncode == 0 else f"failed ({p.stderr.strip().splitlines()[-1:]})")
    sys.path.insert(0, str(ROOT))                                     # import this checkout even if pip could not install it
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    out["missing"] = [m for m in DEPENDENCIES if importlib.util.find_spec(m) is None]
    if out["missing"]: log("missing (the parts that need them are skipped or fail with a reason):", ", ".join(out["missing"]))
    return out

class Checks:
    "Named checks, each timed, its failure recorded with a one-line reason (and the traceback in the log)."
    def __init__(self): self.results = []
    def __call__(self, name: str, fn):
        start = time.perf_counter()
        try:
            value = fn()
            self.results.append(dict(name=name, ok=True, seconds=round(time.perf_counter() - start, 2), value=value))
            log("ok  ", name, "" if value is None else json.dumps(value, default=str)[:160])
        except Exception as e:
            traceback.print_exc()
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            self.results.append(dict(name=name, ok=False, seconds=round(time.perf_counter() - start, 2), reason=reason))
            log("FAIL", name, reason)
    @property
    def failed(self): return [r for r in self.results if not r["ok"]]

def layouts(bb: dict) -> dict:
    "Config fields of each checkpoint layout clipcap captions with, over the tiny backbones `bb`."
    common = dict(clip_model=bb["clip"], text_model=bb["gpt2"], max_len=12)
    return {"clipcap": dict(common, n_heads=2, num_layers=2),
            "seed": dict(common, n_heads=2, num_layers=2, decoding="seed"),
            "clipcap-mlp": dict(common, mapping="mlp", embedding="projected", decoding="clipcap", ep_len=10),
            "clipcap-transformer": dict(common, mapping="clipcap_transformer", embedding="projected", decoding="clipcap",
                                        n_heads=2, num_layers=2, ep_len=4)}

def smoke(device: str, quick: bool, work: Path, checks: Checks):
    "The smoke tests on `device`."
    import numpy as np, torch
    from clipcap.config import ConfigS
    from clipcap.model import Net, tiny_backbones, redraw_, demo_images, plain_inference
    from clipcap.image import Captioner, TensorPreprocessor
    bb = tiny_backbones(work/"tiny")
    images = demo_images(33, size=96, seed=1)
    states = {}
    def build(name: str, fields: dict):
        net = Net(ConfigS(**fields))
        if name not in states: redraw_(net.mapping, seed=0); states[name] = net.state_dict()
        net.load_state_dict(states[name])
        return net
    dtypes = [torch.bfloat16, torch.float32]
    for name, fields in layouts(bb).items():
        for dtype in dtypes:
            for pre in ("tensor", "pil"):
                def paths(name=name, fields=fields, dtype=dtype, pre=pre):
                    c = Captioner(build(name, fields), device=device, dtype=dtype, preprocessing=pre)
                    few = images[:5]
                    out = dict(greedy=c.caption(few), beam=c.caption(few, num_beams=3),
                               sampled=c.caption(few, do_sample=True, temperature=1.2, seed=0))
                    assert c.caption(few, do_sample=True, temperature=1.2, seed=0) == out["sampled"], "sampling with a seed is not repeatable"
                    with plain_inference(): out["plain"] = c.caption(few)
                    assert c.caption([np.asarray(im) for im in few]) == out["greedy"], "arrays and PIL images of the same pixels differ"
                    assert all(isinstance(x, str) for v in out.values() for x in v)
                    return dict(greedy_equals_plain=sum(a == b for a, b in zip(out["greedy"], out["plain"])), example=out["greedy"][0])
                checks(f"paths {name} {str(dtype)[6:]} {pre}", paths)
    decodings = dict(greedy=dict(min_len=8, max_len=8), beam=dict(num_beams=3, max_len=8), sampled=dict(do_sample=True, seed=3, max_len=8))
    def invariance(net, dtype, exact=True, n=None):
        "How many images get other token ids than alone, per batch size and decoding (0 everywhere: invariant)."
        from unittest.mock import patch
        import clipcap.model as model
        c, few = Captioner(net, device=device, dtype=dtype), images[:n]
        with patch.dict(model.EXACT_BATCH, {} if not exact else model.EXACT_BATCH, clear=not exact):
            E = torch.cat([c.encode(few[i:i + 32]) for i in range(0, len(few), 32)])
            alone = torch.cat([c.encode([im]) for im in few])
            differ = dict(embeddings=int((E != alone).any(-1).sum()))
            for name, kw in decodings.items():
                ids = {b: [t for i in range(0, len(E), b) for t in c.net.generate(E[i:i + b], **kw)] for b in (1, 3, 32, 33)}
                differ |= {f"{name} batch {b}": sum(x != y for x, y in zip(ids[b], ids[1])) for b in (3, 32, 33)}
        return differ
    for name, fields in layouts(bb).items():
        for dtype in dtypes:
            def exact(name=name, fields=fields, dtype=dtype):
                differ = invariance(build(name, fields), dtype)
                assert not any(differ.values()), f"some images' ids depend on the batch: {differ}"
                return dict(images=len(images))
            checks(f"batch invariance {name} {str(dtype)[6:]}", exact)
    def kernels_alone():                                                # informational: what the exact passes are for
        return {str(d)[6:]: invariance(build("clipcap", layouts(bb)["clipcap"]), d, exact=False) for d in dtypes}
    if device.startswith("cuda"): checks("without exact passes (informational: images whose ids change)", kernels_alone)
    def s_shape():
        sb = tiny_backbones(work/"S", shape="S")
        out = {}
        for dtype in dtypes:                                              # a fresh net each: a Captioner casts its net
            net = Net(ConfigS(clip_model=sb["clip"], text_model=sb["gpt2"], max_len=8)); redraw_(net.mapping, seed=0)
            differ = invariance(net, dtype, n=33)
            assert not any(differ.values()), f"{str(dtype)[6:]}: some images' ids depend on the batch: {differ}"
            out[str(dtype)[6:]] = "invariant"
        return out
    if not quick: checks("batch invariance, ConfigS shapes", s_shape)
    def graphs():
        from clipcap.model import FastGPT2, _fast
        c = Captioner(build("clipcap", layouts(bb)["clipcap"]), device=device, dtype=torch.bfloat16)
        E = c.encode(images)
        out = {}
        for name, kw in decodings.items():
            FastGPT2.graphs = True
            recorded = c.net.generate(E, **kw)                    # records each shape's step
            replayed = c.net.generate(E, **kw)                    # the same shapes: the pooled buffers and their recordings
            FastGPT2.graphs = False
            eager = c.net.generate(E, **kw)
            FastGPT2.graphs = True
            for what, ids in (("recorded", recorded), ("replayed", replayed)):
                assert ids == eager, f"{name}: CUDA graphs ({what}) give other tokens than the eager path for {sum(a != b for a, b in zip(ids, eager))} images"
            out[name] = "same tokens, recorded and replayed"
        engine = _fast(c.net.text_decoder.model, FastGPT2)      # the engine generate used (built once, cached)
        assert engine.graphs, "recording a CUDA graph failed, so every step ran eagerly"
        out["recorded steps kept"] = sum(s.step is not None and s.step.graph is not None for s in engine._slots)
        assert out["recorded steps kept"] > 0, "no recorded step was kept in the pool"
        return out
    if device.startswith("cuda"): checks("CUDA graphs give the eager path's tokens", graphs)
    def preprocessing():
        from transformers import CLIPImageProcessorPil
        p, rng = CLIPImageProcessorPil(), np.random.default_rng(0)
        level, worst = 1 / 255 / min(p.image_std), 0.0
        from PIL import Image
        for h, w in [(64, 64), (480, 640), (1080, 1920), (50, 400)]:
            a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            ref = p(images=[Image.fromarray(a)], return_tensors="pt")["pixel_values"]
            worst = max(worst, (TensorPreprocessor(p)([torch.from_numpy(a).to(device)], device).cpu() - ref).abs().max().item() / level)
        assert worst <= 3.01, f"{worst:.2f} grey levels from CLIP's processor"   # 2 on the CPU; a GPU may round one more
        return dict(max_levels=round(worst, 2))
    checks("tensor preprocessing on the device vs CLIP's processor", preprocessing)
    def training():
        from clipcap.bench import bench_train_step
        r = bench_train_step(ConfigS(**layouts(bb)["clipcap"]), device, batch=8, tokens=6, steps=2, say=lambda *a: None)
        return dict(captions_per_s=round(r["captions_per_s"], 1), precision=r["precision"])
    checks("training steps", training)
    def sharded():
        folder = work/"shard"; folder.mkdir(exist_ok=True)
        for i, im in enumerate(images[:7]): im.save(folder/f"{i:02d}.png")
        (folder/"broken.png").write_bytes(b"not a png")
        net = build("clipcap", layouts(bb)["clipcap"]); net.save_pretrained(work/"ckpt")
        base = [sys.executable, "-m", "clipcap.cli", "image", str(folder), "--json", "-C", str(work/"ckpt"), "--batch-size", "2", "--device", device]
        one = subprocess.run(base, capture_output=True, text=True, timeout=300)
        two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *base[1:]],
                             capture_output=True, text=True, timeout=300)
        assert two.stdout == one.stdout, f"2 processes printed {len(two.stdout.splitlines())} lines, 1 process {len(one.stdout.splitlines())}"
        assert two.stderr.count("clipcap: error:") == 1 and one.returncode == 1 and two.returncode != 0
        return dict(lines=len(two.stdout.splitlines()))
    if not quick: checks("clipcap image under torchrun, 2 processes", sharded)

def bench(device: str, quick: bool, out: Path, seconds: float, extra: list[str], checks: Checks):
    "`clipcap bench --device DEVICE` in a subprocess, stopped after `seconds`; its JSON to `out/bench.json`."
    cmd = [sys.executable, "-m", "clipcap.cli", "bench", "--device", device, "--out", str(out/"bench.json"), *(["--quick"] if quick else []), *extra]
    log("running", " ".join(cmd[2:]), f"(at most {seconds:.0f} s)")
    def run():
        with open(out/"bench.log", "w") as f:
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=f)
            try: p.wait(timeout=seconds - 30)
            except subprocess.TimeoutExpired:                              # interrupted: it writes the parts it measured
                p.send_signal(signal.SIGINT)
                try: p.wait(timeout=25)
                except subprocess.TimeoutExpired: p.kill(); p.wait()
        tail = (out/"bench.log").read_text().splitlines()
        summary = [l for l in tail if not l.startswith("clipcap bench:")]
        print("\n".join(summary), flush=True)
        if p.returncode: raise RuntimeError(f"exit status {p.returncode}: {tail[-1] if tail else ''} (see bench.log, bench.json)")
        return dict(summary=summary)
    checks(f"clipcap bench --device {device}", run)

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="fewer checks and `clipcap bench --quick`")
    p.add_argument("--out", default=os.environ.get("OUT") or str(Path(tempfile.gettempdir())/"clipcap_gpu_check"),
                   help="folder for the results (default: $OUT, else clipcap_gpu_check in the temporary folder)")
    p.add_argument("--budget", type=float, default=470, help="seconds the whole check may take (default 470: under 8 minutes)")
    p.add_argument("--install", action=argparse.BooleanOptionalAction, default=None,
                   help="pip install this checkout (--no-deps) first (default: on CUDA only; on a developer's machine the "
                        "editable install may point elsewhere: clipcap is then imported from this checkout)")
    p.add_argument("--skip-bench", action="store_true", help="smoke tests only")
    p.add_argument("--bench-args", default="", help="more flags for clipcap bench, e.g. '--shape tiny --skip video'")
    p.add_argument("--wheels", action="store_true", help="only download the wheels the GPU machine lacks into .whl/ (run it here)")
    args = p.parse_args(argv)
    if args.wheels: return wheels()
    start, out = time.monotonic(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = dict(started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), device=args.device, quick=args.quick, python=platform.python_version())
    report["install"] = install(not (args.device.startswith("cuda") if args.install is None else args.install))
    import torch
    report |= dict(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                   gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    log(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU {report['gpu']}")
    checks = Checks()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        checks("CUDA is available", lambda: (_ for _ in ()).throw(RuntimeError("torch.cuda.is_available() is False")))
    else:
        with tempfile.TemporaryDirectory(prefix="clipcap_gpu_check_") as work: smoke(args.device, args.quick, Path(work), checks)
        if not args.skip_bench:
            left = args.budget - (time.monotonic() - start)
            if left < 60: checks("time left for the bench", lambda: (_ for _ in ()).throw(TimeoutError(f"only {left:.0f} s left")))
            else: bench(args.device, args.quick, out, left - 10, args.bench_args.split(), checks)
    report |= dict(seconds=round(time.monotonic() - start, 1), checks=checks.results, failed=[r["name"] for r in checks.failed])
    (out/"gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    log(f"{len(checks.results) - len(checks.failed)} passed, {len(checks.failed)} failed in {report['seconds']:.0f} s; results in {out}")
    return 1 if checks.failed else 0

if __name__ == "__main__": sys.exit(main())
