//! The wasmtime engines: one per memory cap, shared by every host of the process with that
//! cap. An engine has fuel, epoch interruption (a thread advances its epoch every [`TICK`])
//! and the pooling instance allocator, whose slots are sized by the memory cap, so that a
//! fresh instance reuses a slot instead of mapping (and unmapping) a new linear memory.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::LoadError;

/// How often the epoch ticker advances an engine's epoch (the deadline's resolution).
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Component instances (stores with a plugin in them) alive at once per engine. More
/// sessions wait for a free one ([`Slots`]) rather than fail.
const CONCURRENT_INSTANCES: usize = 64;
/// Per component: a plugin with more is refused when it is instantiated (at load).
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// The largest linear memory a pooled slot can hold on this platform: wasmtime reserves
/// 4 GiB per 32-bit memory (so that no bounds check is needed) and a slot cannot exceed it.
const MAX_SLOT_BYTES: usize = 4 << 30;

/// An engine and the gate on its pool's instance slots.
#[derive(Clone)]
pub(crate) struct Pooled {
    pub(crate) engine: Engine,
    pub(crate) slots: Arc<Slots>,
}

/// Counts the live instances of an engine so that they never exceed its pool: a session takes
/// a [`SlotPermit`] before it instantiates and gives it back when dropped. A thread holds at
/// most one session at a time, so waiting cannot deadlock.
pub(crate) struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One instance slot, returned on drop.
pub(crate) struct SlotPermit {
    slots: Arc<Slots>,
}

impl Slots {
    fn new(count: usize) -> Self {
        Self {
            free: Mutex::new(count),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it.
    pub(crate) fn acquire(self: &Arc<Self>) -> SlotPermit {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SlotPermit {
            slots: self.clone(),
        }
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        let mut free = self
            .slots
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.slots.freed.notify_one();
    }
}

/// The engine for plugins capped at `memory_bytes` of linear memory, made (with its epoch
/// ticker thread) on first use.
pub(crate) fn engine(memory_bytes: usize) -> Result<Pooled, LoadError> {
    static ENGINES: Mutex<Option<HashMap<usize, Pooled>>> = Mutex::new(None);
    let mut engines = ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    let engines = engines.get_or_insert_with(HashMap::new);
    if let Some(pooled) = engines.get(&memory_bytes) {
        return Ok(pooled.clone());
    }
    let engine =
        Engine::new(&config(memory_bytes)).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
    let ticker = engine.weak();
    thread::Builder::new()
        .name("postern-rules-epoch".to_owned())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(TICK);
            }
        })
        .map_err(|e| LoadError::Engine(format!("cannot start the epoch ticker: {e}")))?;
    let pooled = Pooled {
        engine,
        slots: Arc::new(Slots::new(CONCURRENT_INSTANCES)),
    };
    engines.insert(memory_bytes, pooled.clone());
    Ok(pooled)
}

/// Fuel, epoch interruption, the component model and a pool sized for
/// [`CONCURRENT_INSTANCES`] plugins of at most `memory_bytes` each.
fn config(memory_bytes: usize) -> Config {
    let instances = u32::try_from(CONCURRENT_INSTANCES).unwrap_or(u32::MAX);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        // The memory cap proper is the store's limiter (it tells the cap from a trap); the
        // slot only has to hold it.
        .max_memory_size(memory_bytes.clamp(64 << 10, MAX_SLOT_BYTES));
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}
