"""Readable names of arXiv categories, as the seed digest shows them ("Computation and Language")."""

from __future__ import annotations

import re

# The shape of every arXiv category code: 'cs.CL', 'quant-ph', 'cond-mat.str-el', 'physics.comp-ph'.
CATEGORY_RE = re.compile(r"^[a-z-]+(?:\.[A-Za-z-]+)?$")

NAMES = {
    "cs.AI": "Artificial Intelligence", "cs.AR": "Hardware Architecture", "cs.CC": "Computational Complexity",
    "cs.CE": "Computational Engineering, Finance, and Science", "cs.CG": "Computational Geometry",
    "cs.CL": "Computation and Language", "cs.CR": "Cryptography and Security",
    "cs.CV": "Computer Vision and Pattern Recognition", "cs.CY": "Computers and Society",
    "cs.DB": "Databases", "cs.DC": "Distributed, Parallel, and Cluster Computing",
    "cs.DL": "Digital Libraries", "cs.DM": "Discrete Mathematics", "cs.DS": "Data Structures and Algorithms",
    "cs.ET": "Emerging Technologies", "cs.FL": "Formal Languages and Automata Theory",
    "cs.GL": "General Literature", "cs.GR": "Graphics", "cs.GT": "Computer Science and Game Theory",
    "cs.HC": "Human-Computer Interaction", "cs.IR": "Information Retrieval", "cs.IT": "Information Theory",
    "cs.LG": "Machine Learning", "cs.LO": "Logic in Computer Science", "cs.MA": "Multiagent Systems",
    "cs.MM": "Multimedia", "cs.MS": "Mathematical Software", "cs.NA": "Numerical Analysis",
    "cs.NE": "Neural and Evolutionary Computing", "cs.NI": "Networking and Internet Architecture",
    "cs.OH": "Other Computer Science", "cs.OS": "Operating Systems", "cs.PF": "Performance",
    "cs.PL": "Programming Languages", "cs.RO": "Robotics", "cs.SC": "Symbolic Computation",
    "cs.SD": "Sound", "cs.SE": "Software Engineering", "cs.SI": "Social and Information Networks",
    "cs.SY": "Systems and Control", "eess.AS": "Audio and Speech Processing",
    "eess.IV": "Image and Video Processing", "eess.SP": "Signal Processing", "eess.SY": "Systems and Control",
    "stat.AP": "Applications", "stat.CO": "Computation", "stat.ME": "Methodology",
    "stat.ML": "Machine Learning (stat)", "stat.TH": "Statistics Theory", "math.OC": "Optimization and Control",
    "math.ST": "Statistics Theory", "math.NA": "Numerical Analysis", "q-bio.QM": "Quantitative Methods",
    "q-bio.GN": "Genomics", "q-bio.NC": "Neurons and Cognition", "physics.comp-ph": "Computational Physics",
    "quant-ph": "Quantum Physics", "cond-mat.str-el": "Strongly Correlated Electrons",
    "cond-mat.stat-mech": "Statistical Mechanics", "astro-ph": "Astrophysics",
    "astro-ph.CO": "Cosmology and Nongalactic Astrophysics", "astro-ph.GA": "Astrophysics of Galaxies",
    "hep-th": "High Energy Physics - Theory", "hep-ph": "High Energy Physics - Phenomenology",
    "econ.EM": "Econometrics", "q-fin.ST": "Statistical Finance",
}


def category_name(code: str) -> str:
    """'cs.CL' -> 'Computation and Language (cs.CL)'; unknown codes are shown as they are."""
    name = NAMES.get(code)
    return f"{name} ({code})" if name else code


def is_category(code: object) -> bool:
    """Whether a string is shaped like an arXiv category code (known to NAMES or not)."""
    return isinstance(code, str) and len(code) <= 32 and bool(CATEGORY_RE.fullmatch(code))
