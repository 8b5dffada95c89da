"""Facts from Amazon's models and pages: operations and their usage plans, regions,
roles, report types, the generated schemas. Imports nothing of the tap."""
