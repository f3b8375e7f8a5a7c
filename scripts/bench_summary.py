#!/usr/bin/env python3
"""Collects criterion's estimates and the e2e bench reports into
target/bench/summary.json and a markdown table target/bench/summary.md,
with each figure's ratio to its baseline from the same run and the
targets of issue 6 marked met or missed."""
import glob
import json
import os
import sys

crit_dir, out_dir = sys.argv[1], sys.argv[2]


def load_criterion():
    res = {}
    for bj in glob.glob(os.path.join(crit_dir, "**", "new", "benchmark.json"), recursive=True):
        b = json.load(open(bj))
        est = json.load(open(os.path.join(os.path.dirname(bj), "estimates.json")))
        ns = est["median"]["point_estimate"]
        thr = b.get("throughput") or {}
        res[(b["group_id"], b["function_id"])] = {"ns": ns, "bytes": thr.get("Bytes")}
    return res


c = load_criterion()
summary = {"parse": [], "book": [], "logic": {}, "channel": {}, "e2e": {}, "targets": []}
md = ["# quantum-trader bench summary", ""]


def ratio(a, b):
    return round(b / a, 2) if a and b else None


md += ["## Parse (ns/message, median; ratio = serde_json derive / ours)", "",
       "| message | bytes | ours ns | ours GB/s | parse+apply ns | simd-json path ns | serde_json ns | serde borrowed ns | parse ratio | parse+apply ratio | ours vs simd-json path |",
       "|---|---|---|---|---|---|---|---|---|---|---|"]
for g in sorted({g for g, _ in c if g.startswith("parse/")}):
    ours = c.get((g, "ours"), {})
    base = c.get((g, "serde_json_derive"), {})
    pa = c.get((g, "ours_parse_apply"), {})
    bor = c.get((g, "serde_json_derive_borrowed"), {})
    simd = c.get((g, "ours_simd_json"), {})
    row = {
        "message": g.split("/", 1)[1],
        "bytes": ours.get("bytes"),
        "ours_ns": ours.get("ns"),
        "parse_apply_ns": pa.get("ns"),
        "serde_json_ns": base.get("ns"),
        "serde_json_borrowed_ns": bor.get("ns"),
        "simd_json_path_ns": simd.get("ns"),
        "ratio_vs_simd_json_path": ratio(ours.get("ns"), simd.get("ns")),
        "ratio_parse": ratio(ours.get("ns"), base.get("ns")),
        "ratio_parse_apply": ratio(pa.get("ns"), base.get("ns")),
    }
    gbs = (ours["bytes"] / ours["ns"]) if ours.get("bytes") and ours.get("ns") else None
    row["ours_gb_s"] = round(gbs, 3) if gbs else None
    summary["parse"].append(row)
    def f(v, digits=0):
        return "" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))
    md.append(f"| {row['message']} | {f(row['bytes'])} | {f(row['ours_ns'])} | {f(row['ours_gb_s'], 3)} | {f(row['parse_apply_ns'])} | {f(row['simd_json_path_ns'])} | {f(row['serde_json_ns'])} | {f(row['serde_json_borrowed_ns'])} | {f(row['ratio_parse'], 2)} | {f(row['ratio_parse_apply'], 2)} | {f(row['ratio_vs_simd_json_path'], 2)} |")

md += ["", "## Book apply (ns, median; ratio = BTreeMap / ours)", "",
       "| workload | ours ns | BTreeMap ns | ratio | ours on a 1-unit grid ns | its ratio |", "|---|---|---|---|---|---|"]
for g in sorted({g for g, _ in c if g.startswith("book/")}):
    o, b = c.get((g, "ours"), {}).get("ns"), c.get((g, "btreemap"), {}).get("ns")
    t1 = c.get((g, "ours_tick1"), {}).get("ns")
    row = {"workload": g.split("/", 1)[1], "ours_ns": o, "btreemap_ns": b, "ratio": ratio(o, b),
           "ours_tick1_ns": t1, "ratio_tick1": ratio(t1, b)}
    summary["book"].append(row)
    t1s = f"{t1:.1f} | {row['ratio_tick1']}" if t1 and b else " | "
    md.append(f"| {row['workload']} | {o:.1f} | {b:.1f} | {row['ratio']} | {t1s} |" if o and b else f"| {row['workload']} | | | | | |")

md += ["", "## Score, risk, paper (ns per call, median)", "", "| function | ns |", "|---|---|"]
for (g, fn), v in sorted(c.items()):
    if g == "logic":
        summary["logic"][fn] = v["ns"]
        md.append(f"| {fn} | {v['ns']:.1f} |")

md += ["", "## Channel hop between two threads (one-way ns, median of round trip / 2)", "",
       "| channel | ns |", "|---|---|"]
for (g, fn), v in sorted(c.items()):
    if g == "channel_hop":
        summary["channel"][fn] = v["ns"]
        md.append(f"| {fn} | {v['ns']:.0f} |")

summary["models"] = {}
md += ["", "## Models, one row (ns per inference, median; ratio = other / ours)", "",
       "| model | ns | vs engine xgboost 100x6 |", "|---|---|---|"]
xgb100 = c.get(("models", "xgboost_100x6_20f"), {}).get("ns")
for (g, fn), v in sorted(c.items()):
    if g == "models":
        summary["models"][fn] = v["ns"]
        md.append(f"| {fn} | {v['ns']:.1f} | {ratio(xgb100, v['ns']) if xgb100 else ''} |")

for mode in ("inject", "inject_fused", "loopback", "testnet"):
    p = os.path.join(out_dir, f"e2e_{mode}.json")
    if not os.path.exists(p):
        continue
    r = json.load(open(p))
    summary["e2e"][mode] = r
    md += ["", f"## End to end: {mode} ({r.get('layout', 'threads')} layout, {r['wait']} waits; {r['machine']['cpu_model']}, {r['machine']['logical_cpus']} logical CPUs)", ""]
    s = r.get("saturation")
    if s:
        md.append(f"Saturation: **{s['msgs_per_s']:.0f} msgs/s** ({s['mb_per_s']:.1f} MB/s), CPU {s['cpu_ns_per_msg']:.0f} ns/msg (all threads).")
        md.append("")
    p2 = r.get("paced")
    if p2:
        md.append(f"Fixed rate: {p2['target_rate']:.0f} msgs/s offered, {p2['achieved_rate']:.0f} achieved, {p2['frames']} frames, {p2['orders']} orders, CPU {p2['cpu_ns_per_msg']:.0f} ns/msg.")
        md += ["", "| stage | count | p50 ns | p90 | p99 | p99.9 | p99.99 | max |", "|---|---|---|---|---|---|---|---|"]
        for l in p2["stages"]:
            md.append(f"| {l['name']} | {l['count']} | {l['p50_ns']} | {l['p90_ns']} | {l['p99_ns']} | {l['p999_ns']} | {l['p9999_ns']} | {l['max_ns']} |")


def slot(mode, name):
    p = (summary["e2e"].get(mode) or {}).get("paced") or {}
    return next((l for l in p.get("stages", []) if l["name"] == name), None)


tn = summary["e2e"].get("testnet")
if tn:
    rows = [("testnet", "tick_to_wire", "frame received -> order bytes written to the socket"),
            ("testnet", "tick_to_handoff", "frame received -> signed request handed to the session runtime"),
            ("testnet", "order_round_trip", "order request sent -> its answer (ack)"),
            ("testnet", "tick_to_order", "frame received -> order ready in exec (testnet run)"),
            ("inject", "tick_to_order", "frame received -> order ready in exec (paper, inject)"),
            ("inject_fused", "tick_to_order", "frame received -> order ready in exec (paper, inject, fused layout)"),
            ("loopback", "tick_to_order", "frame received -> order ready in exec (paper, loopback)")]
    summary["order_path"] = []
    md += ["", f"## Order path: tick-to-wire and order round trip (testnet against the simulator over loopback; {tn['machine']['cpu_model']}, {tn['machine']['logical_cpus']} logical CPUs)", "",
           "| figure | run | n | p50 us | p99 us | p99.9 us | max us |", "|---|---|---|---|---|---|---|"]
    for mode, name, what in rows:
        l = slot(mode, name)
        if not l:
            continue
        row = {"figure": name, "run": mode, "what": what, "n": l["count"], "p50_ns": l["p50_ns"],
               "p99_ns": l["p99_ns"], "p999_ns": l["p999_ns"], "max_ns": l["max_ns"]}
        summary["order_path"].append(row)
        us = lambda v: f"{v / 1e3:.1f}"
        md.append(f"| {name} ({what}) | {mode} | {l['count']} | {us(l['p50_ns'])} | {us(l['p99_ns'])} | {us(l['p999_ns'])} | {us(l['max_ns'])} |")


def target(name, value, goal, ok):
    summary["targets"].append({"target": name, "value": value, "goal": goal, "met": ok})


def prow(name):
    return next((r for r in summary["parse"] if r["message"] == name), {})


d10 = prow("depthUpdate_10x10")
if d10.get("ratio_parse_apply"):
    target("depthUpdate 10+10 parse+apply vs serde_json parse", d10["ratio_parse_apply"], ">= 3x", d10["ratio_parse_apply"] >= 3)
for m in ("bookTicker_real", "trade_real"):
    r = prow(m)
    if r.get("ratio_parse"):
        target(f"{m} parse vs serde_json", r["ratio_parse"], ">= 2x", r["ratio_parse"] >= 2)
bk = next((r for r in summary["book"] if r["workload"] == "real_1000lvl/per_level"), None)
if bk and bk["ratio"]:
    target("book apply per level vs BTreeMap (real, 1000 levels)", bk["ratio"], ">= 5x", bk["ratio"] >= 5)
inj = summary["e2e"].get("inject", {}).get("saturation")
if inj:
    target("whole pipeline in-process, msgs/s", round(inj["msgs_per_s"]), ">= 1,000,000", inj["msgs_per_s"] >= 1e6)
# Issue 17 item 3: the fused layout on a small machine, tick-to-order at
# 20k msgs/s; saturation in-process.
fz = summary["e2e"].get("inject_fused") or {}
t2o = next((l for l in (fz.get("paced") or {}).get("stages", []) if l["name"] == "tick_to_order"), None)
if t2o and abs((fz["paced"] or {}).get("target_rate", 0) - 20000) < 1:
    target("fused layout, tick-to-order p50 at 20k msgs/s, us (issue 17)", round(t2o["p50_ns"] / 1e3, 1), "<= 5", t2o["p50_ns"] <= 5000)
    target("fused layout, tick-to-order p99 at 20k msgs/s, us (issue 17)", round(t2o["p99_ns"] / 1e3, 1), "<= 50", t2o["p99_ns"] <= 50000)
if fz.get("saturation"):
    sat = fz["saturation"]["msgs_per_s"]
    target("fused layout, saturation in-process, msgs/s (issue 17)", round(sat), ">= 3,000,000", sat >= 3e6)
for fn in ("lightgbm_100x6_20f", "xgboost_100x6_20f"):
    ns = summary["models"].get(fn)
    if ns:
        target(f"{fn}: one row, ns (issue 19)", round(ns, 1), "<= 1000", ns <= 1000)
md += ["", "## Targets (issues 6, 17, 19)", "", "| target | value | goal | met |", "|---|---|---|---|"]
for t in summary["targets"]:
    md.append(f"| {t['target']} | {t['value']} | {t['goal']} | {'yes' if t['met'] else 'NO'} |")

json.dump(summary, open(os.path.join(out_dir, "summary.json"), "w"), indent=2)
open(os.path.join(out_dir, "summary.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
print(f"\nwritten: {out_dir}/summary.json, {out_dir}/summary.md")
