"""The Models pane: the local library, the Hugging Face Hub browser and the downloads.

``page.ModelsPage`` puts the parts together; each part lives in its own module so it can
be read (and tested) alone. Nothing here imports huggingface_hub or httpx: the services
(core/models/service.py) import them when they first run, on a worker thread.
"""
