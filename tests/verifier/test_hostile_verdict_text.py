"""Hostile model text up to 1 MB through every reader of verifier answers and proofs: results must come back.

Each input runs in a child process under a generous hang guard (a quadratic reader takes minutes on 1 MB); the
child also reports the time of each input, which must stay within the target of 10 s for 1 MB.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from verdict_hostile_inputs import HOSTILE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MB = 1_000_000
TARGET_S = 10.0
HANG_GUARD_S = 300

CHILD = r"""
import json, sys, time
from model.backends.backend import Completion
from verifier.answer import check_answer
from verifier.parse import parse_meta, parse_verification
from verifier.scores import boxed_values, read_verdict
from verifier.steps import anchor, segment
from verdict_hostile_inputs import HOSTILE
name = sys.argv[1]
text = HOSTILE[name]()
small = segment("A first step.\n\nA second step.")
seconds = {}
def timed(label, f):
    t = time.perf_counter()
    result = f()
    seconds[label] = round(time.perf_counter() - t, 3)
    return result
timed("read_verdict", lambda: (read_verdict(text, "binary"), read_verdict(text, "points"), boxed_values(text)))
timed("parse_verification", lambda: parse_verification(Completion(text), small))
timed("parse_meta", lambda: parse_meta(Completion(text)))
timed("check_answer", lambda: (check_answer("3", text), check_answer(text[:5000], "\\boxed{3}")))
proof = timed("segment", lambda: segment(text))
timed("anchor", lambda: (anchor(proof, text[:2000]), anchor(proof, "a quote that is nowhere in the text at all")))
quoted = Completion('- [critical] "' + text[:3000] + '" : bad\n\\boxed{0}')
timed("parse_verification_on_proof", lambda: parse_verification(quoted, proof))
print(json.dumps({"name": name, "seconds": seconds, "chars": len(text)}))
"""


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_read_in_bounded_time(name):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]))
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, name], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: no result within {HANG_GUARD_S} s (a reader is not linear)")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["chars"] >= 0.9 * MB or name == "nested_boxes"
    slow = {reader: t for reader, t in result["seconds"].items() if t > TARGET_S}
    assert not slow, f"{name}: over {TARGET_S} s on {result['chars']} chars: {slow}"
