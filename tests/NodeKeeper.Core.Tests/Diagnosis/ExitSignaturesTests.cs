using NodeKeeper.Core.Diagnosis;

namespace NodeKeeper.Core.Tests.Diagnosis;

/// <summary>
/// The invariants <see cref="ExitClassifier"/> relies on in the tables of <see cref="ExitSignatures"/>, and that every
/// row and every wording in them is there for some real stderr.
/// </summary>
public class ExitSignaturesTests
{
    private static string CorpusDir => Path.Combine(AppContext.BaseDirectory, "Diagnosis", "corpus");

    private sealed record Run(string Label, int? Code, string? Signal, string Stderr, bool SentByNodeKeeper = false, bool KernelOomKill = false);

    /// <summary>Every captured run of the corpus (see corpus/README.md), with its code and signal.</summary>
    private static IEnumerable<Run> Corpus()
    {
        foreach (var file in Directory.GetFiles(CorpusDir, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var text = File.ReadAllText(file);
            var newline = text.IndexOf('\n');
            var header = text[..newline];
            var code = Field(header, "code");
            var signal = Field(header, "signal");
            yield return new Run(Path.GetRelativePath(CorpusDir, file), code.Length == 0 ? null : int.Parse(code),
                signal.Length == 0 ? null : signal, text[(newline + 1)..]);
        }
    }

    private static string Field(string header, string key)
    {
        var at = header.IndexOf(" " + key + "=", StringComparison.Ordinal) + key.Length + 2;
        return header[at..header.IndexOf(' ', at)];
    }

    /// <summary>The rows no corpus run decides: exits no stderr shows, and wordings of tools the corpus does not have
    /// (the same formats as the inline cases of ExitClassifierTests).</summary>
    private static readonly Dictionary<string, Run> NotInCorpus = new()
    {
        ["sent-by-nodekeeper"] = new("nk stop", null, "SIGTERM", "listening on :3000\n", SentByNodeKeeper: true),
        ["cgroup-oom-kill"] = new("cgroup OOM", null, "SIGKILL", "listening on :3000\n", KernelOomKill: true),
        ["external-signal"] = new("kill", null, "SIGTERM", "listening on :3000\n"),
        ["next-called-twice"] = new("koa", 1, null, "Error: next() called multiple times\n    at dispatch (/app/node_modules/koa-compose/index.js:36:45)\n"),
        ["rejection-log"] = new("app handler", 1, null, """
            Unhandled Rejection at: Promise {
              <rejected> Error: timeout
                  at Timeout._onTimeout (/app/src/db.js:20:12)
            } reason: Error: timeout
                at Timeout._onTimeout (/app/src/db.js:20:12)
            """),
        ["rejection-header"] = new("app log", 1, null, "[app] unhandled rejection: Error: db timeout\n    at query (/app/src/db.js:20:12)\n"),
        ["unhandled-error-event"] = new("socket", 1, null, """
            Error: read ECONNRESET
                at TCP.onStreamRead (node:internal/stream_base_commons:216:20)
            Emitted 'error' event on Socket instance at:
                at emitErrorNT (node:internal/streams/destroy:170:8)
            """),
        ["logged-error"] = new("logged", 1, null, "Error: connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)\n"),
    };

    /// <summary>Wordings the corpus does not show, one line each: older Nodes' and other tools' messages.</summary>
    private static readonly string[] OtherWordings =
    [
        "FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed - JavaScript heap out of memory",
        "FATAL ERROR: CALL_AND_RETRY_LAST Allocation failed - process out of memory",
        "Error: ENFILE: file table overflow, open '/var/cache/x'",
        "Error: cluster.fork() failed: Resource temporarily unavailable",
        "Error: cluster.fork() failed: EAGAIN",
        "Error: Cannot create child process: EAGAIN",
        "Error: Worker failed to initialize",
        "Error [ERR_WORKER_INIT_FAILED]: Worker initialization failure: EAGAIN",
        "Error: next() called twice",
        "Error: next() was called multiple times",
        "Error: EMFILE: too many open files, inotify_add_watch '/app/src'",
    ];

    private static IEnumerable<string> AllNames() =>
        ExitSignatures.Statuses.Select(s => s.Name).Concat(ExitSignatures.Lines.Select(s => s.Name)).Concat(ExitSignatures.Blocks.Select(s => s.Name));

    private static string? DecidedBy(Run run) =>
        ExitClassifier.Judge(run.Code, run.Signal, run.Stderr, run.SentByNodeKeeper, run.KernelOomKill).Signature;

    [Fact]
    public void Names_are_unique_across_the_tables()
    {
        AllNames().Should().OnlyHaveUniqueItems();
        AllNames().Should().OnlyContain(n => n.Length > 0 && n.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'));
    }

    [Fact]
    public void Line_ranks_never_decrease_down_the_table_so_the_first_match_on_a_line_is_its_best()
    {
        ExitSignatures.Lines.Select(s => s.Rank).Should().BeInAscendingOrder();
        ExitSignatures.Lines.Should().OnlyContain(s => s.Rank >= 0 && s.Wordings.Count > 0);
    }

    [Fact]
    public void Every_row_decides_some_real_stderr()
    {
        var decided = Corpus().Select(DecidedBy).OfType<string>().ToHashSet();

        decided.Should().NotIntersectWith(NotInCorpus.Keys, "a row the corpus decides needs no made-up sample");
        decided.Concat(NotInCorpus.Keys).Should().BeEquivalentTo(AllNames(), "every row is there for some stderr");
    }

    [Fact]
    public void Each_row_outside_the_corpus_decides_its_sample()
    {
        foreach (var (name, run) in NotInCorpus)
            DecidedBy(run).Should().Be(name, "the sample \"{0}\" shows it", run.Label);
    }

    [Fact]
    public void Every_wording_occurs_in_some_real_line()
    {
        var lines = Corpus().SelectMany(r => r.Stderr.Split('\n')).Concat(NotInCorpus.Values.SelectMany(r => r.Stderr.Split('\n')))
            .Concat(OtherWordings).ToList();
        var wordings = ExitSignatures.Lines.SelectMany(s => s.Wordings.Select(w => (Row: s.Name, Wording: w)))
            .Concat(ExitSignatures.Lines.Where(s => s.Hint is not null)
                .SelectMany(s => s.Hint!.InLine.Concat(s.Hint.InFrame).Select(w => (Row: s.Name + " hint", Wording: w))));

        var unseen = wordings.Where(x => !lines.Any(x.Wording.In))
            .Select(x => $"{x.Row}: {string.Join(" & ", x.Wording.Parts.Select(p => p.Text))}").ToList();

        string.Join('\n', unseen).Should().BeEmpty("a wording no real line holds is a typo or a guess");
    }

    [Fact]
    public void The_last_block_row_takes_any_block_the_others_do_not()
    {
        var blocks = Corpus().Concat(NotInCorpus.Values).Select(r => FatalBlock.Last(StderrLines.SplitLines(r.Stderr))).OfType<FatalBlock>().ToList();

        var last = ExitSignatures.Blocks[^1];

        blocks.Should().NotBeEmpty();
        blocks.Should().OnlyContain(b => last.Matches(b));
    }

    [Fact]
    public void Clip_keeps_a_line_of_the_maximum_length_and_cuts_a_longer_one_to_it()
    {
        var max = new string('x', ExitClassifier.MaxEvidenceLineLength);

        ExitClassifier.Clip("short").Should().Be("short");
        ExitClassifier.Clip(max).Should().BeSameAs(max);
        ExitClassifier.Clip(max + "y").Should().Be(max[..^1] + "…");
    }
}
