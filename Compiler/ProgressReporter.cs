using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Compiler;

/// <summary>
/// Progress of long work. On a terminal: a bar with tensors and bytes done of total, rate and time
/// left, redrawn in place on stderr. Redirected: one log line per phase instead.
/// </summary>
public sealed class ProgressReporter : IDisposable
{
    private readonly CliContext _ctx;
    private readonly string _verb;
    private readonly int _totalTensors;
    private readonly long _totalBytes;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive;
    private long _lastDraw;
    private bool _drew;

    public ProgressReporter(CliContext ctx, string verb, Model model)
    {
        _ctx = ctx;
        _verb = verb;
        var external = model.AllTensors().Where(t => t.ByteLength >= 1024).ToList();
        _totalTensors = external.Count;
        _totalBytes = external.Sum(t => t.ByteLength);
        _interactive = !Console.IsErrorRedirected && ReferenceEquals(ctx.Stderr, Console.Error);
        if (!_interactive && _totalBytes > (64L << 20))
            ctx.Logger("ternion").LogInformation("{Verb}: writing {Tensors:N0} tensors, {Bytes:N0} bytes", verb, _totalTensors, _totalBytes);
    }

    public void OnTensorWritten(int tensors, long bytes)
    {
        if (!_interactive) return;
        long now = _clock.ElapsedMilliseconds;
        if (now - _lastDraw < 200) return;
        _lastDraw = now;
        double secs = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        double rate = bytes / secs;
        double left = rate > 0 && _totalBytes > bytes ? (_totalBytes - bytes) / rate : 0;
        double frac = _totalBytes > 0 ? Math.Min(1, (double)bytes / _totalBytes) : 1;
        int width = 30, filled = (int)(frac * width);
        _ctx.Stderr.Write($"\r{_verb} [{new string('#', filled)}{new string('.', width - filled)}] {tensors}/{_totalTensors} tensors  {bytes / 1048576.0:N0}/{_totalBytes / 1048576.0:N0} MiB  {rate / 1048576.0:N0} MiB/s  {left:N0}s left ");
        _drew = true;
    }

    public void Done()
    {
        if (_drew) _ctx.Stderr.Write("\r" + new string(' ', 110) + "\r");
        _drew = false;
        if (!_interactive && _totalBytes > (64L << 20))
            _ctx.Logger("ternion").LogInformation("{Verb}: done in {Seconds:F1} s", _verb, _clock.Elapsed.TotalSeconds);
    }

    public void Dispose() { if (_drew) Done(); }
}
