namespace Ternion.Backends.Kernels.Ops;

/// <summary>
/// Where an operator's work items run. Inside ONNX Runtime the glue hands them to the session's
/// intra-op thread pool (its threads are already awake, and a second pool would fight them for
/// the cores); elsewhere they run on .NET's pool or on the calling thread.
/// </summary>
public interface IParallelRunner
{
    /// <summary>How many threads may work at once; kernels size their work items from it.</summary>
    int Degree { get; }

    /// <summary>Runs body(0) .. body(count - 1), in any order and on any threads, and returns when all have run.</summary>
    void For(int count, Action<int> body);
}

/// <summary>Runs work items on the calling thread, in order.</summary>
public sealed class SequentialRunner : IParallelRunner
{
    public static readonly SequentialRunner Instance = new();
    public int Degree => 1;
    public void For(int count, Action<int> body)
    {
        for (int i = 0; i < count; i++) body(i);
    }
}

/// <summary>Runs work items with Parallel.For on up to <see cref="Degree"/> threads.</summary>
public sealed class DotNetPoolRunner(int degree) : IParallelRunner
{
    public int Degree { get; } = Math.Max(1, degree);
    public void For(int count, Action<int> body)
    {
        if (count <= 1 || Degree == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Degree }, body);
    }
}
