using System.Diagnostics;

namespace Ternion.Robustness.Tests.Harness;

/// <summary>What one `ternion` run showed a user, plus what it cost.</summary>
public sealed record CliOutcome(string[] Args, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, long AllocatedBytes)
{
    public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    /// <summary>AllocatedBytes is -1 where it was not measured (child processes, concurrent runs).</summary>
    public override string ToString() =>
        $"ternion {string.Join(' ', Args)} -> exit {ExitCode} in {Elapsed.TotalMilliseconds:F0} ms" +
        (AllocatedBytes >= 0 ? $", {AllocatedBytes / 1048576.0:F1} MiB allocated" : "") + $"; stderr: {Stderr.Trim()}";
}

/// <summary>
/// Runs the `ternion` CLI in-process (like tests/Ternion.Cli.Tests' CliRunner) with a time limit
/// and the managed bytes the run allocated, or as a child process (for limits that need a process
/// of its own: stack depth, a hard heap limit, a kill on timeout).
/// </summary>
public static class CliHarness
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>Per-run limit for in-process runs; far above what any case here needs on a loaded 2-core machine.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static CliOutcome Run(params string[] args) => Run(DefaultTimeout, args);

    /// <summary>
    /// Runs one command on a worker thread and waits at most <paramref name="timeout"/>. A run that
    /// does not finish fails the test (the thread is left behind: there is no safe way to stop it).
    /// Runs are serialised so the allocation count belongs to this run alone.
    /// </summary>
    public static CliOutcome Run(TimeSpan timeout, params string[] args)
    {
        // A run that hung keeps the gate; later runs fail here instead of waiting forever behind it.
        if (!Gate.Wait(timeout))
            throw new Xunit.Sdk.XunitException($"ternion {string.Join(' ', args)} could not start: an earlier run has not finished (hang)");
        bool finished = false;
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            long before = GC.GetTotalAllocatedBytes(precise: false);
            var clock = Stopwatch.StartNew();
            var task = Task.Factory.StartNew(() => Ternion.Compiler.Cli.Run(args, o, e), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            if (!task.Wait(timeout))
                throw new Xunit.Sdk.XunitException($"ternion {string.Join(' ', args)} did not finish within {timeout.TotalSeconds:F0} s (hang)");
            finished = true;
            clock.Stop();
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
            return new CliOutcome(args, task.Result, o.ToString(), e.ToString(), clock.Elapsed, allocated);
        }
        finally
        {
            // A hung run keeps the gate: later runs would measure its allocations too, and the test already failed.
            if (finished) Gate.Release();
        }
    }

    /// <summary>Runs the CLI without the gate (for the concurrency tests, which want overlap).</summary>
    public static CliOutcome RunConcurrently(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var clock = Stopwatch.StartNew();
        int code = Ternion.Compiler.Cli.Run(args, o, e);
        return new CliOutcome(args, code, o.ToString(), e.ToString(), clock.Elapsed, -1);
    }

    /// <summary>ternion.dll next to the test assembly (the Compiler project is referenced, so it is copied here).</summary>
    public static string TernionDll => Path.Combine(AppContext.BaseDirectory, "ternion.dll");

    /// <summary>
    /// Runs `dotnet ternion.dll ARGS` as a child process, killed after <paramref name="timeout"/>.
    /// <paramref name="heapLimitBytes"/> sets the runtime's hard GC heap limit, so a run that tries
    /// to allocate more fails inside the process instead of taking the machine's memory.
    /// </summary>
    /// <param name="stackKib">When set, the child's main thread gets this stack size (ulimit -s), so a
    /// test can show that work on a large graph does not recurse once per node.</param>
    public static CliOutcome RunProcess(TimeSpan timeout, long? heapLimitBytes, int? stackKib, params string[] args)
    {
        ProcessStartInfo psi;
        if (stackKib is int kib)
        {
            psi = new ProcessStartInfo("/bin/sh");
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add($"ulimit -s {kib} && exec dotnet \"$@\"");
            psi.ArgumentList.Add("sh");
        }
        else psi = new ProcessStartInfo("dotnet");
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.ArgumentList.Add(TernionDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (heapLimitBytes is long limit) psi.Environment["DOTNET_GCHeapHardLimit"] = $"0x{limit:X}";
        // A child that crashes must not write a core file or wait for a debugger.
        psi.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new Xunit.Sdk.XunitException($"ternion {string.Join(' ', args)} (child process) did not finish within {timeout.TotalSeconds:F0} s (hang); killed");
        }
        p.WaitForExit();
        clock.Stop();
        return new CliOutcome(args, p.ExitCode, stdout.Result, stderr.Result, clock.Elapsed, -1);
    }
}
