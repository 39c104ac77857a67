"""Offline NLU tools, never loaded by the served model: data checks, generator, import, counts, evaluation.

    python -m nlu.tools.validate_data     python -m nlu.tools.generate_data     python -m nlu.tools.data_stats
    python -m nlu.tools.import_bio ...    python -m nlu.tools.evaluate ...
"""
