//! OpenFlow 1.3/1.4 codec and switch connection.
