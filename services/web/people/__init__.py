"""People: accounts, passwords, sessions, sign-in and its lockout, CSRF."""
