"""The README's examples run as written and print what they say they show."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_an_example_for_each_face():
    text = "\n".join(BLOCKS)
    for face in ("gym.make(", "gym.make_vec(", "pettingzoo.make(", "rollout(", "Replay-v0"):
        assert face in text, face


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_readme_example_runs_and_prints(block, tmp_path):
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "the example prints nothing"
