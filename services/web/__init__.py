"""web: the human faces of lcs — the CS desk in the browser (a backend-for-frontend)."""
