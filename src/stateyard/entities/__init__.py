"""Entity metadata: definitions, column types, compilation to tables, live DDL, schema files."""
