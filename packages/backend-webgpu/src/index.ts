// This package is planned; it exports nothing yet. See README.md.
export {};
