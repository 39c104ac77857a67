"""The console's routers, one per area: login/logout, the review queue; admin pages when present."""
