"""Root conftest: the project's own tests live in tests/, the user-facing suite in checks/."""
