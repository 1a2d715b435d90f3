"""HTTP routes: parse the request, call a service, render the response."""
