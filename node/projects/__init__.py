"""Running mutual aid day to day: projects and their working groups, shifts and fair rotation,
the tool library, feedback, stories, the transparency ledger, needs surveys and notifications."""
