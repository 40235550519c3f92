"""Task-specific distillation for NER (the "BioBERT Distillation" study).

A BioBERT teacher fine-tuned on one NER set (BC2GM) teaches small students
(a BiLSTM tagger and a 4-layer TinyBERT) directly on the task, on a training
set enlarged by mention-aware augmentation (Dai and Adel, 2020).  Students
read the teacher's WordPiece sub-words so the teacher's logits align with
theirs position by position.
"""
