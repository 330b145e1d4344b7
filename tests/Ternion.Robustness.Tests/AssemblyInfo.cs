// The corpus measures allocated bytes per CLI run (GC.GetTotalAllocatedBytes is process-wide),
// and the fuzz test owns a time budget: both need the test classes of this assembly to run one
// at a time. The concurrency tests start their own threads and processes.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
