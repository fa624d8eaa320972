"""Evaluation, in one place for the CLI (`qa eval`) and the UI's Evaluate tab: question sets
(`datasets`), per-question scores (`metrics`), runs (`runs`), reports (`reports`), run-to-run
comparison (`compare`), judged scores (`judge`) and the chat's votes (`feedback`)."""
