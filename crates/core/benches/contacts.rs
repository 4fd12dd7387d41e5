//! On-demand benchmark of contact search (issue 4), run by `scripts/bench-contacts`: a 50,000-contact
//! tenant, the first page of 50 for name and phone substrings through `contacts::list` (trigram index for
//! rare fragments, the activity-order index for common ones), next to the seed-style unindexed `ILIKE` on
//! the same data in the same run.
//!
//! Usage: cargo bench -p wacrm-core --bench contacts -- <database url of an empty scratch database>

use std::io::Cursor;
use std::time::{Duration, Instant};

use wacrm_core::contacts::import::{ImportOptions, import};
use wacrm_core::contacts::{self, ContactFilter, FileFormat, Sort};
use wacrm_core::{Scope, business, db};

const CONTACTS: usize = 50_000;
const SEARCHES: usize = 300;

/// Deterministic pseudo-random numbers (the same data every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

const FIRST: &[&str] = &["ana", "ben", "carla", "dev", "elif", "farid", "gita", "hugo", "ines", "jon", "kofi", "lena"];
const LAST: &[&str] = &["silva", "okafor", "müller", "tanaka", "haddad", "novak", "reyes", "kumar", "larsen", "dubois"];

fn name(rng: &mut Lcg) -> String {
    let f = FIRST[rng.next(FIRST.len() as u64) as usize];
    let l = LAST[rng.next(LAST.len() as u64) as usize];
    format!("{f}{} {l}{}", rng.next(100), rng.next(1000))
}

fn median_and_p90(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() * 9 / 10]))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).ok_or("pass the URL of an empty scratch database")?;
    let pool = db::connect_url(&url).await?;
    db::migrate(&pool).await?;
    let (b, _) = business::create(&pool, "Search bench", "search@bench.test", "US").await?;
    let scope = Scope::for_business(&pool, b.id).await?;

    let mut rng = Lcg(42);
    let mut csv = String::from("phone,name,stage,tags\n");
    let mut names = Vec::with_capacity(CONTACTS);
    for i in 0..CONTACTS {
        let n = name(&mut rng);
        csv.push_str(&format!("+1415{}{:04},{n},New,\n", 200 + i / 10_000, i % 10_000));
        names.push(n);
    }
    let started = Instant::now();
    let report =
        import(&pool, &scope, Cursor::new(csv.into_bytes()), &ImportOptions::new(FileFormat::Csv), |_| {}).await?;
    println!("setup: imported {} contacts in {:.2?}", report.created, started.elapsed());
    sqlx::query("ANALYZE contacts").execute(&pool).await?;

    // Name fragments (3-5 letters from a real name) and phone fragments (4-7 digits).
    let queries: Vec<String> = (0..SEARCHES)
        .map(|i| {
            if i % 2 == 0 {
                let n: Vec<char> = names[rng.next(CONTACTS as u64) as usize].chars().collect();
                let len = 3 + rng.next(3) as usize;
                let start = rng.next((n.len() - len) as u64) as usize;
                n[start..start + len].iter().collect()
            } else {
                let digits = format!("415{}{:04}", 200 + rng.next(5), rng.next(10_000));
                let len = 4 + rng.next(4) as usize;
                digits[digits.len() - len..].to_string()
            }
        })
        .collect();

    let mut indexed = Vec::with_capacity(SEARCHES);
    for q in &queries {
        let filter = ContactFilter { query: Some(q.clone()), ..ContactFilter::default() };
        let started = Instant::now();
        contacts::list(&pool, &scope, &filter, Sort::Active, None, 50).await?;
        indexed.push(started.elapsed());
    }
    let mut unindexed = Vec::with_capacity(SEARCHES);
    for q in &queries {
        let pattern = format!("%{q}%");
        let started = Instant::now();
        sqlx::query(
            "SELECT id FROM contacts WHERE business_id = $1 AND (name ILIKE $2 OR phone ILIKE $2)
             ORDER BY last_active DESC NULLS LAST, id DESC LIMIT 50",
        )
        .bind(b.id.0)
        .bind(&pattern)
        .fetch_all(&pool)
        .await?;
        unindexed.push(started.elapsed());
    }
    let (median, p90) = median_and_p90(indexed);
    let (u_median, u_p90) = median_and_p90(unindexed);
    println!("search, {CONTACTS} contacts, first page of 50, {SEARCHES} queries:");
    println!("  contacts::list (indexed):       median {median:.2} ms, p90 {p90:.2} ms");
    println!("  unindexed ILIKE:                median {u_median:.2} ms, p90 {u_p90:.2} ms");
    Ok(())
}
