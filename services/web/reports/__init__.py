"""The desk's reports: each a page, a CSV and an XLSX, from the backends' public reports."""
