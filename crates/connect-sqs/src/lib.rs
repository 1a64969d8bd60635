//! Amazon SQS as a connect-core source, sink and dead-letter store.
