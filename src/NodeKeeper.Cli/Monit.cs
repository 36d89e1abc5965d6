using System.Globalization;
using System.Runtime.InteropServices;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Rendering;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace NodeKeeper.Cli;

/// <summary>
/// `nk monit`: every instance, refreshed every second from the daemon's status. On a terminal it draws on the
/// alternate screen with the cursor hidden and puts both back however it ends; redirected, it prints one snapshot.
/// </summary>
public static class Monit
{
    public const string EnterScreen = "\u001b[?1049h", LeaveScreen = "\u001b[?1049l";
    public const string HideCursor = "\u001b[?25l", ShowCursor = "\u001b[?25h";
    private const string CursorHome = "\u001b[H", ClearToLineEnd = "\u001b[K", ClearBelow = "\u001b[J";
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan KeyPoll = TimeSpan.FromMilliseconds(50);
    /// <summary>Width of a redirected snapshot: wide enough that no cell wraps.</summary>
    private const int SnapshotWidth = 250;

    /// <summary>Runs the view on an open connection; returns the exit code. An IOException (daemon gone) propagates after the terminal is restored.</summary>
    public static async Task<int> RunAsync(ControlClient client, IReadOnlyList<string> names, CancellationToken ct)
    {
        var request = new Request { Cmd = Commands.Status, Names = names };
        var first = await client.SendAsync(request, ct);
        if (!first.Ok)
        {
            await Console.Error.WriteLineAsync($"nk: {first.Error}");
            return NkCommands.Failed;
        }
        if (Console.IsOutputRedirected)
        {
            Console.Out.Write(ToText(View(first.Instances ?? [], DateTimeOffset.Now, live: false), SnapshotWidth, 0, color: false));
            return NkCommands.Ok;
        }

        // SIGINT (kill -INT) and SIGTERM end the view from its first frame on: System.CommandLine hears them only once
        // the command has first yielded, and a signal before that would leave the terminal on the alternate screen.
        using var quit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        PosixSignalRegistration Quit(PosixSignal s) => PosixSignalRegistration.Create(s, c => { c.Cancel = true; quit.Cancel(); });
        using var onInt = Quit(PosixSignal.SIGINT);
        using var onTerm = Quit(PosixSignal.SIGTERM);
        ct = quit.Token;
        string? refused = null;
        var color = string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var keys = !Console.IsInputRedirected;
        if (keys)
        {
            // Ctrl-C is read as a key, as PM2's monit does: it quits even when the shell that started nk had SIGINT
            // ignored (a job started with &), which would make the terminal's SIGINT do nothing. The terminal is set up
            // for keys before the first frame, so a Ctrl-C typed as soon as the view shows is read too.
            Console.TreatControlCAsInput = true;
            _ = Console.KeyAvailable;
        }
        Console.Out.Write(EnterScreen + HideCursor);
        Console.Out.Flush();
        try
        {
            var rows = first.Instances ?? [];
            var due = DateTime.UtcNow + Refresh;
            var dirty = true;
            (int, int) drawn = default;
            while (true)
            {
                if (DateTime.UtcNow >= due)
                {
                    var r = await client.SendAsync(request, ct);
                    if (!r.Ok) { refused = r.Error; break; }
                    rows = r.Instances ?? [];
                    due = DateTime.UtcNow + Refresh;
                    dirty = true;
                }
                var size = TerminalSize();
                if (dirty || size != drawn)
                {
                    Draw(ToText(View(rows, DateTimeOffset.Now, live: true), size.Width, size.Height, color));
                    (drawn, dirty) = (size, false);
                }
                if (keys && QuitPressed()) break;
                await Task.Delay(KeyPoll, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl-C (SIGINT) or SIGTERM: System.CommandLine cancels the token; a normal way to leave.
        }
        finally
        {
            Console.Out.Write(ShowCursor + LeaveScreen);
            Console.Out.Flush();
        }
        if (refused is null) return NkCommands.Ok;
        await Console.Error.WriteLineAsync($"nk: {refused}");
        return NkCommands.Failed;
    }

    private static bool QuitPressed()
    {
        // ReadKey(intercept) keeps the key from being echoed; .NET keeps the terminal in no-echo, non-line mode
        // while it reads keys and restores the original settings when the process exits.
        while (Console.KeyAvailable)
        {
            var k = Console.ReadKey(intercept: true);
            if (k.KeyChar is 'q' or 'Q') return true;
            if (k.KeyChar == '\u0003' || (k.Key == ConsoleKey.C && k.Modifiers.HasFlag(ConsoleModifiers.Control))) return true;
        }
        return false;
    }

    private static (int Width, int Height) TerminalSize()
    {
        int w, h;
        try { (w, h) = (Console.WindowWidth, Console.WindowHeight); }
        catch (Exception ex) when (ex is IOException or PlatformNotSupportedException) { (w, h) = (0, 0); }
        return (w > 0 ? w : 120, h > 0 ? h : 0);
    }

    /// <summary>One frame, written at once from the top-left corner: each line clears its rest, then the rest of the screen.</summary>
    private static void Draw(string text)
    {
        var frame = CursorHome + text.TrimEnd('\n').Replace("\n", ClearToLineEnd + "\n") + ClearToLineEnd + ClearBelow;
        Console.Out.Write(frame);
        Console.Out.Flush();
    }

    /// <summary>The view of a set of rows: a title line, the table and the warnings under it. Pure.</summary>
    public static IRenderable View(IReadOnlyList<InstanceInfo> rows, DateTimeOffset now, bool live)
    {
        var parts = new List<IRenderable>();
        if (live)
            parts.Add(new Text($"nk monit  {rows.Count} instance{(rows.Count == 1 ? "" : "s")}  {now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}  (q to quit)",
                new Style(decoration: Decoration.Bold)));
        if (rows.Count == 0)
        {
            parts.Add(new Text("no apps (load some with: nk start nodekeeper.toml)\n"));
            return new Rows(parts);
        }

        var table = new Table { Border = TableBorder.Simple };
        foreach (var h in new[] { "name", "id", "pid", "status", "cpu", "memory", "heap", "lag p99", "req/s", "failed", "http p99", "files", "restarts", "uptime" })
            table.AddColumn(new TableColumn(new Text(h, new Style(decoration: Decoration.Bold))));
        foreach (var c in new[] { 1, 2, 4, 8, 9, 10, 12 }) table.Columns[c].RightAligned();

        var warnings = new List<string>();
        foreach (var r in rows)
        {
            var warned = r.Warnings is { Count: > 0 };
            if (warned) warnings.AddRange(r.Warnings!.Select(w => $"{r.Name}:{r.Instance}  {w}"));
            var memory = r.MemoryBytes is { } m ? Render.Bytes(m) : "-";
            table.AddRow(
                new Text(warned ? $"! {r.Name}" : r.Name, warned ? new Style(Color.Yellow, decoration: Decoration.Bold) : Style.Plain),
                new Text(r.Instance.ToString(CultureInfo.InvariantCulture)),
                new Text(r.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-"),
                new Text(r.Status + (r.BackoffMs is { } b ? $" ({Render.Duration(b)})" : ""), StatusStyle(r.Status)),
                new Text(r.CpuPercent is { } c ? $"{c.ToString("0.#", CultureInfo.InvariantCulture)}%" : "-"),
                r.MemoryGrowthMbPerMin is { } g
                    ? new Markup($"{Markup.Escape(memory)} [yellow]{g.ToString("+0.0;-0.0", CultureInfo.InvariantCulture)} MB/min[/]")
                    : new Text(memory),
                new Text(Heap(r)),
                new Text(r.EventLoopLagMs is { } lag ? $"{lag.ToString("0.#", CultureInfo.InvariantCulture)}ms" : "-"),
                new Text(r.RequestsPerSecond is { } rps ? rps.ToString("0.#", CultureInfo.InvariantCulture) : "-"),
                r.Http is { } h ? new Text($"{h.Failed}", h.Failed > 0 ? new Style(Color.Red) : Style.Plain) : new Text("-"),
                new Text(r.Http?.P99Ms is { } p99 ? $"{p99.ToString("0.#", CultureInfo.InvariantCulture)}ms" : "-"),
                new Text(r.OpenFiles is { } f ? (r.MaxOpenFiles is { } mf ? $"{f}/{mf}" : $"{f}/-") : "-"),
                new Text(r.Restarts.ToString(CultureInfo.InvariantCulture)),
                new Text(r.Pid is null ? "-" : Render.Duration(r.UptimeMs)));
        }
        parts.Add(table);
        if (warnings.Count > 0)
        {
            parts.Add(new Text("warnings:", new Style(Color.Yellow, decoration: Decoration.Bold)));
            foreach (var w in warnings) parts.Add(new Text($"  ! {w}", new Style(Color.Yellow)));
        }
        return new Rows(parts);
    }

    private static string Heap(InstanceInfo r) => r.HeapUsedBytes is null && r.HeapLimitBytes is null
        ? "-"
        : $"{(r.HeapUsedBytes is { } u ? Render.Bytes(u) : "-")} / {(r.HeapLimitBytes is { } l ? Render.Bytes(l) : "-")}";

    public static Style StatusStyle(string status) => status switch
    {
        "online" => new Style(Color.Green),
        "errored" or "backoff" => new Style(Color.Red),
        "starting" or "stopping" => new Style(Color.Yellow),
        _ => Style.Plain,
    };

    /// <summary>Renders a view to text of the given width (and at most the given height, 0 for no limit), with or without ANSI colour.</summary>
    public static string ToText(IRenderable view, int width, int height, bool color)
    {
        var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = color ? AnsiSupport.Yes : AnsiSupport.No,
            ColorSystem = color ? ColorSystemSupport.Standard : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
        });
        console.Profile.Width = width;
        console.Profile.Capabilities.Unicode = true;
        console.Write(view);
        // Cells pad with spaces and the simple border draws blank top and bottom edges: trim the line ends and
        // keep at most one blank line in a row, none first or last.
        var lines = new List<string>();
        foreach (var line in writer.ToString().Replace("\r\n", "\n").Split('\n').Select(l => l.TrimEnd(' ')))
            if (line.Length > 0 || (lines.Count > 0 && lines[^1].Length > 0)) lines.Add(line);
        while (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        if (height > 0 && lines.Count > height) lines.RemoveRange(height, lines.Count - height);
        return string.Join('\n', lines) + "\n";
    }
}
