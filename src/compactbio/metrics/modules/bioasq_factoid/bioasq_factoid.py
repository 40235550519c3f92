"""BioASQ factoid strict accuracy, lenient accuracy and MRR, as the official evaluator scores them.

An ``evaluate`` module over :mod:`compactbio.metrics.bioasq` (load it with
``evaluate.load(compactbio.metrics.modules.path("bioasq_factoid"))``).
Imports are absolute: ``evaluate`` imports this file on its own, outside the package.
"""

import datasets
import evaluate

from compactbio.metrics.bioasq import factoid_scores
from compactbio.metrics.modules import PAPER_BIBTEX

_DESCRIPTION = """\
Factoid scores of BioASQ Task B, phase B, following the official evaluator
(BioASQ/Evaluation-Measures, `EvaluatorTask1b -phaseB -e 5`):

* every golden and submitted string is lower-cased and otherwise compared as is
  (no trimming, no other normalisation);
* of a submitted answer (a synonym list) only the first synonym is read;
* a submitted answer is correct if it equals any synonym of any golden answer;
* strict: the first submitted answer is correct; lenient: any submitted answer is
  correct; MRR: mean of 1 / rank of the first correct answer (0 when none).  Every
  rank the submission holds counts.

One entry per factoid question of the golden file: an unanswered question (an empty
answer list) stays in the denominator, as with the official tool.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per question, its ranked submitted answers, each a list of synonyms
        (the `exact_answer` of a BioASQ submission); [] when unanswered.
    references: per question, its golden answers, each a list of synonyms (the
        golden file's `exact_answer`, every answer a list).
Returns:
    strict, lenient, mrr.
Examples:
    >>> bioasq = evaluate.load(compactbio.metrics.modules.path("bioasq_factoid"))
    >>> bioasq.compute(predictions=[[["MDM2"], ["tp53"]], []], references=[[["TP53", "p53"]], [["BRCA1"]]])
    {'strict': 0.0, 'lenient': 0.5, 'mrr': 0.25}
"""

_CITATION = PAPER_BIBTEX + """
@article{tsatsaronis2015overview,
  title = {An overview of the {BIOASQ} large-scale biomedical semantic indexing and question answering competition},
  author = {Tsatsaronis, George and Balikas, Georgios and Malakasiotis, Prodromos and Partalas, Ioannis and
            Zschunke, Matthias and Alvers, Michael R. and Weissenborn, Dirk and Krithara, Anastasia and
            Petridis, Sergios and Polychronopoulos, Dimitris and others},
  journal = {BMC Bioinformatics},
  volume = {16},
  pages = {138},
  year = {2015},
  doi = {10.1186/s12859-015-0564-6}
}
@misc{bioasq-evaluation-measures,
  title = {{BioASQ} Evaluation Measures},
  author = {{BioASQ}},
  url = {https://github.com/BioASQ/Evaluation-Measures}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class BioasqFactoid(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("string"))),
                "references": datasets.Sequence(datasets.Sequence(datasets.Value("string"))),
            }),
            homepage="http://participants-area.bioasq.org/",
            reference_urls=["https://github.com/BioASQ/Evaluation-Measures",
                            "https://doi.org/10.1093/bioinformatics/btad103"],
        )

    def _compute(self, predictions, references):
        scores, _ = factoid_scores(predictions, references)
        return scores
