"""The key-account portal: a customer's own shipments, arrivals, storage, receipts, complaints."""
