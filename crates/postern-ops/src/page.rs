//! Offset paging of list operations: `limit` (0 means 100, at most 1000) and `offset`.

use postern_store::Page;

use crate::OpError;

/// The largest page a caller may ask for.
pub const MOST_PER_PAGE: u32 = 1000;

/// A checked page.
pub fn page(limit: u32, offset: u64) -> Result<Page, OpError> {
    if limit > MOST_PER_PAGE {
        return Err(OpError::bad_field("limit", format!("at most {MOST_PER_PAGE} items per page")));
    }
    if offset > i64::MAX as u64 {
        return Err(OpError::bad_field("offset", "offset is too large"));
    }
    Ok(Page { limit, offset })
}
