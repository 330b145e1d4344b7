using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Ternion.IR.Serialization;

namespace Ternion.Compiler;

/// <summary>
/// Progress of long work. On a terminal: a bar with tensors and bytes done of total, rate and time
/// left, redrawn in place on stderr. Redirected: one log line per phase instead.
/// </summary>
public sealed class ProgressReporter : ISaveProgress, IDisposable
{
    private readonly CliContext _ctx;
    private readonly string _verb;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Stopwatch _phaseClock = Stopwatch.StartNew();
    private readonly bool _interactive;
    private readonly ILogger _log;
    private int _totalTensors;
    private long _totalBytes;
    private long _lastDraw = -1000;
    private bool _drew;
    private string? _phase;

    public ProgressReporter(CliContext ctx, string verb)
    {
        _ctx = ctx;
        _verb = verb;
        _log = ctx.Logger("ternion");
        _interactive = !Console.IsErrorRedirected && ReferenceEquals(ctx.Stderr, Console.Error);
    }

    /// <summary>Starts a named phase (loading, passes, writing); redirected output logs one line for it.</summary>
    public void Phase(string name)
    {
        EndPhase();
        _phase = name;
        _phaseClock.Restart();
    }

    private void EndPhase()
    {
        if (_phase is null) return;
        ClearBar();
        // Redirected, a phase gets one line; quick phases only at debug level, to keep scripts' stderr quiet.
        var secs = _phaseClock.Elapsed.TotalSeconds;
        if (!_interactive) _log.Log(secs >= 1 ? LogLevel.Information : LogLevel.Debug, "{Verb}: {Phase} done in {Seconds:F1} s", _verb, _phase, secs);
        _phase = null;
    }

    public void Begin(int tensors, long bytes)
    {
        _totalTensors = tensors;
        _totalBytes = bytes;
        if (!_interactive && bytes > (256L << 20)) _log.LogInformation("{Verb}: writing {Tensors:N0} tensors, {Bytes:N0} bytes of external data", _verb, tensors, bytes);
    }

    public void Advance(int tensors, long bytes)
    {
        if (!_interactive) return;
        long now = _clock.ElapsedMilliseconds;
        if (now - _lastDraw < 200 && tensors < _totalTensors) return;
        _lastDraw = now;
        double secs = Math.Max(_phaseClock.Elapsed.TotalSeconds, 1e-3);
        double rate = bytes / secs;
        double left = rate > 0 && _totalBytes > bytes ? (_totalBytes - bytes) / rate : 0;
        double frac = _totalBytes > 0 ? Math.Min(1, (double)bytes / _totalBytes) : 1;
        int width = 30, filled = (int)(frac * width);
        _ctx.Stderr.Write($"\r{_verb} [{new string('#', filled)}{new string('.', width - filled)}] {tensors}/{_totalTensors} tensors  {bytes / 1048576.0:N0}/{_totalBytes / 1048576.0:N0} MiB  {rate / 1048576.0:N0} MiB/s  {left:N0} s left ");
        _drew = true;
    }

    private void ClearBar()
    {
        if (_drew) _ctx.Stderr.Write("\r" + new string(' ', 110) + "\r");
        _drew = false;
    }

    /// <summary>Ends the bar; a phase cut short by an error is not reported as done.</summary>
    public void Dispose()
    {
        ClearBar();
        _phase = null;
    }

    /// <summary>Reports the last phase as done.</summary>
    public void Finish() => EndPhase();
}
