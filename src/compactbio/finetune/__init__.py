"""Fine-tuning jobs (NER, RE, QA heads); ``stage.run`` is the ``compactbio finetune`` stage."""
