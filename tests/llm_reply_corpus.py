'''A corpus of realistic LLM replies to one parent program, clean and messy, for parse/apply tests.

Each entry is ``(name, expected, reply)``: ``expected`` is "apply" when a careful human
would turn the reply into the intended program, "reject" when no faithful program can be
made from it (prose only, truncated, hallucinated SEARCH text, edits outside the block).
The replies imitate what chat models actually send: fences with and without language
tags, prose around the edit, several edits, whitespace and indentation drift, marker
variants, CRLF, <think> sections, a SEARCH/REPLACE with fences inside its sections.
The parent is a frozen copy of the circle-packing seed, so the corpus does not drift
when the problem's seed is edited.
'''

PARENT = """\
\"\"\"Seed program: 26 circles placed in concentric rings, radii grown until they touch.\"\"\"

import numpy as np


# EVOLVE-BLOCK-START
def construct_packing():
    \"\"\"Place the centres: one in the middle, a ring of 8 around it, an outer ring of 17.\"\"\"
    n = 26
    centers = np.zeros((n, 2))
    centers[0] = [0.5, 0.5]
    for i in range(8):
        angle = 2 * np.pi * i / 8
        centers[i + 1] = [0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)]
    for i in range(17):
        angle = 2 * np.pi * i / 17
        centers[i + 9] = [0.5 + 0.7 * np.cos(angle), 0.5 + 0.7 * np.sin(angle)]
    centers = np.clip(centers, 0.01, 0.99)
    return centers, compute_max_radii(centers)


def compute_max_radii(centers):
    \"\"\"Largest radii with every circle inside the square, shrinking overlapping pairs in turn.\"\"\"
    n = centers.shape[0]
    radii = np.min(np.stack([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]]), axis=0)
    for i in range(n):
        for j in range(i + 1, n):
            distance = np.sqrt(np.sum((centers[i] - centers[j]) ** 2))
            if radii[i] + radii[j] > distance:
                scale = distance / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    return radii
# EVOLVE-BLOCK-END


def run_packing():
    \"\"\"Entry point called by the evaluator: returns (centers, radii).\"\"\"
    centers, radii = construct_packing()
    return centers, radii
"""

_BLOCK = PARENT.split("# EVOLVE-BLOCK-START\n")[1].split("# EVOLVE-BLOCK-END\n")[0]
_INNER_OLD = "        centers[i + 1] = [0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)]\n"
_INNER_NEW = "        centers[i + 1] = [0.5 + 0.28 * np.cos(angle), 0.5 + 0.28 * np.sin(angle)]\n"
_OUTER_OLD = "        centers[i + 9] = [0.5 + 0.7 * np.cos(angle), 0.5 + 0.7 * np.sin(angle)]\n"
_OUTER_NEW = "        centers[i + 9] = [0.5 + 0.42 * np.cos(angle), 0.5 + 0.42 * np.sin(angle)]\n"


def _diff(old: str, new: str, marks: tuple[str, str, str] = ("<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE")) -> str:
    return f"{marks[0]}\n{old}{marks[1]}\n{new}{marks[2]}\n"


_REWRITE = _BLOCK.replace("0.7 *", "0.42 *").replace("0.3 *", "0.25 *")

CORPUS: list[tuple[str, str, str]] = [
    ("diff in python fence", "apply",
     "The outer ring sits outside the square; pull it in.\n\n```python\n" + _diff(_OUTER_OLD, _OUTER_NEW) + "```\n"),
    ("diff unfenced", "apply", _diff(_OUTER_OLD, _OUTER_NEW)),
    ("diff in diff fence", "apply", "```diff\n" + _diff(_OUTER_OLD, _OUTER_NEW) + "```"),
    ("two diffs one fence", "apply", "Two tweaks:\n```\n" + _diff(_INNER_OLD, _INNER_NEW) + "\n" + _diff(_OUTER_OLD, _OUTER_NEW) + "```\n"),
    ("two diffs two fences with prose", "apply",
     "First the inner ring:\n```python\n" + _diff(_INNER_OLD, _INNER_NEW) + "```\nThen the outer ring:\n```python\n"
     + _diff(_OUTER_OLD, _OUTER_NEW) + "```\nThis keeps all circles inside the square."),
    ("trailing whitespace drift", "apply", _diff(_OUTER_OLD.replace("\n", "   \n"), _OUTER_NEW)),
    ("indentation lost in SEARCH and REPLACE", "apply",
     _diff(_OUTER_OLD.replace("        ", "    ", 1), _OUTER_NEW.replace("        ", "    ", 1))),
    ("seven-character markers", "apply", _diff(_OUTER_OLD, _OUTER_NEW, ("<<<<<<<< SEARCH", "========", ">>>>>>>> REPLACE"))),
    ("missing REPLACE marker at the end", "apply", "```python\n<<<<<<< SEARCH\n" + _OUTER_OLD + "=======\n" + _OUTER_NEW + "```\n"),
    ("CRLF line ends", "apply", _diff(_OUTER_OLD, _OUTER_NEW).replace("\n", "\r\n")),
    ("blank line inside SEARCH context", "apply",
     _diff("    return centers, compute_max_radii(centers)\n\n\ndef compute_max_radii(centers):\n",
           "    return centers, compute_max_radii(centers)\n\n\n\ndef compute_max_radii(centers):\n    # radii from centres\n")),
    ("think section first", "apply",
     "<think>\nThe outer ring radius 0.7 puts centres outside the square; clipping piles them on the border.\n</think>\n"
     + _diff(_OUTER_OLD, _OUTER_NEW)),
    ("fences inside SEARCH and REPLACE sections", "apply",
     "<<<<<<< SEARCH\n```python\n" + _OUTER_OLD + "```\n=======\n```python\n" + _OUTER_NEW + "```\n>>>>>>> REPLACE\n"),
    ("SEARCH quotes the start marker as context", "apply",
     _diff("# EVOLVE-BLOCK-START\ndef construct_packing():\n", "# EVOLVE-BLOCK-START\ndef construct_packing():  # rings\n")),
    ("markdown heading and bullet prose", "apply",
     "## Idea\n- pull the outer ring inside the square\n- keep the inner ring\n\n### Change\n```python\n"
     + _diff(_OUTER_OLD, _OUTER_NEW) + "```\n**Expected effect:** larger radii for the outer circles."),
    ("rewrite of the block in python fence", "apply", "Shrink both rings.\n\n```python\n" + _REWRITE + "```\n"),
    ("rewrite with py tag", "apply", "```py\n" + _REWRITE + "```"),
    ("rewrite echoing the whole program with markers", "apply",
     "Here is the full program:\n```python\n" + PARENT.replace(_BLOCK, _REWRITE) + "```\n"),
    ("rewrite unfenced with markers", "apply", PARENT.replace(_BLOCK, _REWRITE)),
    ("snippet then the full rewrite", "apply",
     "The key line is:\n```python\nangle = 2 * np.pi * i / 17\n```\nFull code:\n```python\n" + _REWRITE + "```\n"),
    ("rewrite with imports echoed before the block", "apply",
     "```python\nimport numpy as np\n\n\n" + _REWRITE + "```\n"),
    ("diff with tab indentation in SEARCH", "apply", _diff(_OUTER_OLD.replace("        ", "\t\t"), _OUTER_NEW)),
    ("rewrite truncated inside its fence", "reject", "```python\n" + _REWRITE[:200]),
    ("prose only", "reject", "The current packing is already close to optimal; I would not change it."),
    ("empty reply", "reject", ""),
    ("truncated inside SEARCH", "reject", "```python\n<<<<<<< SEARCH\n" + _OUTER_OLD[:40]),
    ("truncated inside REPLACE in a fence", "reject", "```python\n<<<<<<< SEARCH\n" + _OUTER_OLD + "=======\n        centers[i + 9] = [0.5"),
    ("hallucinated SEARCH text", "reject",
     _diff("    radii = compute_radii_fast(centers)\n", "    radii = compute_radii_exact(centers)\n")),
    ("edit outside the EVOLVE-BLOCK", "reject",
     _diff("    centers, radii = construct_packing()\n", "    centers, radii = construct_packing()\n    radii = radii * 1.5\n")),
    ("REPLACE equal to SEARCH", "reject", _diff(_OUTER_OLD, _OUTER_OLD)),
    ("SEARCH without divider", "reject", "<<<<<<< SEARCH\n" + _OUTER_OLD + _OUTER_NEW + ">>>>>>> REPLACE\n"),
    ("JSON-wrapped code", "reject", '{"code": "def construct_packing():\\n    return None"}'),
    ("REPLACE removes a marker", "reject",
     _diff("# EVOLVE-BLOCK-START\ndef construct_packing():\n", "def construct_packing():\n")),
]
