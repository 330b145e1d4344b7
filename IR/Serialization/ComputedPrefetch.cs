namespace Ternion.IR.Serialization;

/// <summary>
/// Computes tensors whose bytes are produced on demand (weights packed while the model is written)
/// ahead of the writer, on another core, so that computing overlaps the writer's copies of stored
/// tensors (which the kernel does while the CPU waits). Results are taken in the writer's order and
/// each is written exactly as if computed on the spot: the output does not change. At most
/// <see cref="BudgetBytes"/> of computed bytes wait at a time.
/// </summary>
internal sealed class ComputedPrefetch : IDisposable
{
    public const long BudgetBytes = 256L << 20;

    private enum State { Waiting, Running, Done, Taken }

    private sealed class Slot(Tensor tensor)
    {
        public Tensor Tensor { get; } = tensor;
        public State State;
        public TensorBytes Bytes;
        public Exception? Error;
    }

    private readonly object _gate = new();
    private readonly List<Slot> _slots;
    private readonly Dictionary<Tensor, Slot> _byTensor;
    private readonly List<Thread> _workers = new();
    private int _next;
    private long _outstanding;
    private bool _stopping;

    private ComputedPrefetch(List<Slot> slots, int workers)
    {
        _slots = slots;
        _byTensor = slots.ToDictionary(s => s.Tensor, ReferenceEqualityComparer.Instance as IEqualityComparer<Tensor>)!;
        for (int i = 0; i < workers; i++)
        {
            var t = new Thread(Work) { IsBackground = true, Name = "ternion-prefetch" };
            _workers.Add(t);
            t.Start();
        }
    }

    /// <summary>Starts computing <paramref name="inWriteOrder"/> (computed tensors, in the order the writer will want them); null when there is nothing to overlap.</summary>
    public static ComputedPrefetch? Start(IEnumerable<Tensor> inWriteOrder)
    {
        var slots = inWriteOrder.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().Select(t => new Slot(t)).ToList();
        // One core writes; the others compute. On one core there is nothing to overlap.
        int workers = Math.Min(slots.Count, Environment.ProcessorCount - 1);
        return workers <= 0 ? null : new ComputedPrefetch(slots, workers);
    }

    private void Work()
    {
        while (true)
        {
            Slot slot;
            lock (_gate)
            {
                while (true)
                {
                    if (_stopping) return;
                    while (_next < _slots.Count && _slots[_next].State != State.Waiting) _next++;
                    if (_next >= _slots.Count) return;
                    var candidate = _slots[_next];
                    // Within the budget (one tensor larger than the budget still runs once nothing waits).
                    if (_outstanding == 0 || _outstanding + candidate.Tensor.ByteLength <= BudgetBytes) { slot = candidate; break; }
                    Monitor.Wait(_gate);
                }
                slot.State = State.Running;
                _outstanding += slot.Tensor.ByteLength;
                _next++;
            }
            TensorBytes bytes = default;
            Exception? error = null;
            try { bytes = slot.Tensor.Data.Open(); }
            catch (Exception e) { error = e; }
            lock (_gate)
            {
                slot.Bytes = bytes;
                slot.Error = error;
                slot.State = State.Done;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>
    /// The computed bytes of <paramref name="t"/> (waiting for them if they are being computed), or
    /// false when the caller should compute them itself. Dispose what is returned once written.
    /// </summary>
    public bool TryTake(Tensor t, out TensorBytes bytes)
    {
        bytes = default;
        lock (_gate)
        {
            if (!_byTensor.TryGetValue(t, out var slot) || slot.State == State.Taken) return false;
            if (slot.State == State.Waiting) { slot.State = State.Taken; return false; }
            while (slot.State == State.Running) Monitor.Wait(_gate);
            slot.State = State.Taken;
            if (slot.Error is { } e) { Release(slot.Tensor.ByteLength); System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw(); }
            bytes = new TensorBytes(slot.Bytes.Memory, new Returned(this, slot.Bytes, slot.Tensor.ByteLength));
            return true;
        }
    }

    private void Release(long length)
    {
        lock (_gate)
        {
            _outstanding -= length;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Gives the budget back when the writer is done with a result.</summary>
    private sealed class Returned(ComputedPrefetch owner, TensorBytes bytes, long length) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            bytes.Dispose();
            owner.Release(length);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var w in _workers) w.Join();
        // Results nobody took (the save failed part way): free them.
        foreach (var s in _slots)
            if (s.State == State.Done) { s.Bytes.Dispose(); s.State = State.Taken; }
    }
}
