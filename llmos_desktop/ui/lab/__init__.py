"""The Lab page: quantize a model, measure its perplexity and speed, score it on a task,
and compare the results (a table and two QPainter scatter plots).

``page.LabPage`` puts the parts together over ``LabService`` (core/lab/service.py), the
front the ``llmos lab`` command uses too. Nothing here imports llama_cpp, sacrebleu or
rouge-score: the heavy work runs in the lab's worker process or on the loop's executor.
"""
