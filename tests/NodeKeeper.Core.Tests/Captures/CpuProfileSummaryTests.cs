using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using NodeKeeper.Core.Captures;

namespace NodeKeeper.Core.Tests.Captures;

/// <summary>
/// <see cref="CpuProfileSummary"/> against real captures from Node 18, 20 and 22 (fixtures/cpu, made by make.js: a timer
/// calls handler() in app.js, which calls spin() in lib/busy.js, which busy-loops) and synthetic edge cases.
/// </summary>
public sealed class CpuProfileSummaryTests
{
    private const string AppDir = "/tmp/nk-cpu-fixture/srv/app";
    private static string Dir(string node) => Path.Combine(AppContext.BaseDirectory, "Captures", "fixtures", "cpu", node);
    private static string One(string node, string pattern) => Directory.GetFiles(Dir(node), pattern).Single();

    public static TheoryData<string> Nodes => new() { "node18", "node20", "node22" };

    private static StallSummary RealStall(string node, bool withProfile = true, string? appDir = AppDir)
    {
        using var json = File.OpenRead(One(node, "stall-*.json"));
        using var profile = withProfile ? File.OpenRead(One(node, "stall-*.cpuprofile")) : null;
        return CpuProfileSummary.ReadStall(json, profile, appDir);
    }

    [Theory, MemberData(nameof(Nodes))]
    public void A_real_stall_names_the_busy_function_its_line_and_its_caller(string node)
    {
        var s = RealStall(node);
        s.Function.Should().Be("spin");
        s.Frame.Should().Be("spin (lib/busy.js:6)");
        s.CalledFrom.Should().Be("handler (app.js:9)");
        s.Pauses.Should().Be(3);
        s.PausesInFunction.Should().Be(3);
        s.SharePercent.Should().BeGreaterThan(80);
        s.Headline().Should().MatchRegex(@"^blocked in spin \(lib/busy\.js:6\) called from handler \(app\.js:9\): \d+ % of 1\.\d s of samples$");
        var evidence = s.Evidence();
        evidence.Should().HaveCountLessThanOrEqualTo(6).And.OnlyContain(l => !l.Contains('\n'));
        evidence.Should().Contain(l => l.StartsWith(
            "stack: spin (lib/busy.js:6) ← handler (app.js:9) ← (anonymous) (app.js:22) ← listOnTimeout (node:internal/timers:", StringComparison.Ordinal));
        s.ProfileFile.Should().Be(Path.GetFileName(One(node, "stall-*.cpuprofile")));
        s.BlockedMs.Should().BeGreaterThan(1000);
    }

    [Theory, MemberData(nameof(Nodes))]
    public void A_loop_optimized_before_profiling_is_missing_from_the_profile_and_counts_under_its_caller(string node)
    {
        // V8 attributes the samples of spin's OSR-compiled loop to handler, at the line of the call.
        var s = RealStall(node);
        s.CountedAs.Should().Be("handler (app.js:9)");
        s.Evidence().Should().Contain("spin is not in the profile (optimized before it began): its samples count under handler (app.js:9)");
        s.Profile!.Hottest!.Frame.Should().Be("handler (app.js:9)");
    }

    [Theory, MemberData(nameof(Nodes))]
    public void Without_a_pause_the_profile_names_the_caller_and_says_why(string node)
    {
        var sidecar = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(One(node, "stall-*.json")))!;
        sidecar["stacks"] = new System.Text.Json.Nodes.JsonArray();
        using var json = new MemoryStream(Encoding.UTF8.GetBytes(sidecar.ToJsonString()));
        using var profile = File.OpenRead(One(node, "stall-*.cpuprofile"));

        var s = CpuProfileSummary.ReadStall(json, profile, AppDir);

        s.Pauses.Should().Be(0);
        s.Frame.Should().Be("handler (app.js:9)", "the profile counts spin's OSR-compiled loop under its caller");
        s.Evidence().Should().HaveCountLessThanOrEqualTo(6).And.Contain(
            "no pause landed while it was blocked: this is the profile's stack, which counts a function V8 optimized before the profile began (a hot loop) under its caller");
        RealStall(node).Evidence().Should().NotContain(l => l.StartsWith("no pause landed", StringComparison.Ordinal));
    }

    [Theory, MemberData(nameof(Nodes))]
    public void Without_the_profile_the_share_is_among_the_pauses(string node)
    {
        var s = RealStall(node, withProfile: false);
        s.SharePercent.Should().BeNull();
        s.Headline().Should().Be("blocked in spin (lib/busy.js:6) called from handler (app.js:9): in 3 of 3 pauses");
    }

    [Theory, MemberData(nameof(Nodes))]
    public void Without_the_app_directory_frames_keep_the_full_path(string node) =>
        RealStall(node, appDir: null).Frame.Should().Be("spin (/tmp/nk-cpu-fixture/srv/app/lib/busy.js:6)");

    [Theory, MemberData(nameof(Nodes))]
    public void An_on_demand_profile_names_the_hottest_function_its_hottest_line_and_its_stack(string node)
    {
        using var f = File.OpenRead(One(node, "cpu-*.cpuprofile"));
        var c = CpuProfileSummary.Read(f, appDir: AppDir);
        c.DurationMs.Should().BeInRange(1400, 1700);
        c.Samples.Should().BeGreaterThan(1000);
        var h = c.Hottest!;
        h.Name.Should().Be("spin");
        h.Line.Should().Be(3, "spin is defined on line 3");
        h.HotLine.Should().Be(6, "the loop is on line 6");
        h.Frame.Should().Be("spin (lib/busy.js:6)");
        h.SelfPercent.Should().BeGreaterThan(80);
        h.TotalMs.Should().BeGreaterThanOrEqualTo(h.SelfMs);
        h.Stack.Take(3).Should().Equal("spin (lib/busy.js:6)", "handler (app.js:7)", "(anonymous) (app.js:21)");
        c.Top[0].Should().BeEquivalentTo(h);
        c.Top.Should().NotContain(t => t.Name == "(idle)" || t.Name == "(root)");
        c.Evidence().Should().HaveCountLessThanOrEqualTo(6).And.Contain(l => l.StartsWith("most self time: spin (lib/busy.js:6) 1.", StringComparison.Ordinal));
    }

    // ---- synthetic profiles ----

    private static string Node(int id, string name, string url = "", int line = -1, int col = -1, int[]? children = null, string? ticks = null) =>
        $$"""{"id":{{id}},"callFrame":{"functionName":"{{name}}","scriptId":"1","url":"{{url}}","lineNumber":{{line}},"columnNumber":{{col}}},"hitCount":0,"children":[{{string.Join(",", children ?? [])}}]{{(ticks is null ? "" : $",\"positionTicks\":[{ticks}]")}}}""";

    private static string Root(params int[] children) => Node(1, "(root)", children: children);

    private static MemoryStream Json(string text) => new(Encoding.UTF8.GetBytes(text));

    private static MemoryStream Profile(IEnumerable<string> nodes, int[] samples, int[]? deltas, long start = 1_000_000, long? end = null)
    {
        var e = end ?? start + (deltas is null ? samples.Length * 1000L : deltas.Sum() + 1000L);
        var d = deltas is null ? "" : $",\"timeDeltas\":[{string.Join(",", deltas)}]";
        return Json($$"""{"nodes":[{{string.Join(",", nodes)}}],"startTime":{{start}},"endTime":{{e}},"samples":[{{string.Join(",", samples)}}]{{d}}}""");
    }

    private static int[] Repeat(int id, int n) => Enumerable.Repeat(id, n).ToArray();
    /// <summary>One sample a millisecond, the first at the start.</summary>
    private static int[] Ms(int n) => [0, .. Enumerable.Repeat(1000, n - 1)];

    [Fact]
    public void An_idle_profile_has_no_busy_function()
    {
        var c = CpuProfileSummary.Read(Profile([Root(2), Node(2, "(idle)")], Repeat(2, 100), Ms(100)));
        c.ActiveMs.Should().Be(0);
        c.Top.Should().BeEmpty();
        c.Hottest.Should().BeNull();
        c.Evidence().Should().Equal("profile: 100 ms, 100 samples, idle throughout");
    }

    [Fact]
    public void Garbage_collection_alone_is_the_answer_only_when_no_javascript_ran()
    {
        var gcOnly = CpuProfileSummary.Read(Profile([Root(2, 3), Node(2, "(garbage collector)"), Node(3, "(idle)")], [.. Repeat(2, 60), .. Repeat(3, 40)], Ms(100)));
        gcOnly.Hottest!.Name.Should().Be("(garbage collector)");
        gcOnly.Hottest.SelfPercent.Should().BeApproximately(100, 0.01);
        gcOnly.Hottest.Frame.Should().Be("(garbage collector)");

        var both = CpuProfileSummary.Read(Profile(
            [Root(2, 3), Node(2, "(garbage collector)"), Node(3, "work", "file:///srv/app/a.js", 4, 0)], [.. Repeat(2, 70), .. Repeat(3, 30)], Ms(100)),
            appDir: "/srv/app");
        both.Top[0].Name.Should().Be("(garbage collector)");
        both.Hottest!.Frame.Should().Be("work (a.js:5)");
        both.Evidence().Should().Contain("most self time: (garbage collector) 70 ms, work (a.js:5) 30 ms");
    }

    [Fact]
    public void Time_comes_from_the_time_deltas_each_sample_lasting_until_the_next()
    {
        // a at 0, b at 3 ms, end at 4 ms: a lasted 3 ms, b 1 ms although both are one sample.
        var c = CpuProfileSummary.Read(Profile([Root(2, 3), Node(2, "a", "/x.js", 0, 0), Node(3, "b", "/x.js", 9, 0)], [2, 3], [0, 3000], end: 1_004_000));
        c.Top.Select(f => (f.Name, f.SelfMs)).Should().Equal(("a", 3.0), ("b", 1.0));
        c.Top[0].SelfPercent.Should().BeApproximately(75, 0.01);
    }

    [Fact]
    public void Without_time_deltas_every_sample_gets_the_mean_interval()
    {
        var c = CpuProfileSummary.Read(Profile([Root(2, 3), Node(2, "a", "/x.js", 0, 0), Node(3, "b", "/x.js", 9, 0)], [2, 2, 2, 3], null, end: 1_008_000));
        c.DurationMs.Should().Be(8);
        c.Top.Select(f => (f.Name, f.SelfMs)).Should().Equal(("a", 6.0), ("b", 2.0));
    }

    [Fact]
    public void Without_samples_the_hit_counts_share_the_duration()
    {
        var text = $$"""{"nodes":[{{Root(2)}},{"id":2,"callFrame":{"functionName":"f","url":"/x.js","lineNumber":0,"columnNumber":0},"hitCount":30}],"startTime":0,"endTime":60000}""";
        var c = CpuProfileSummary.Read(Json(text));
        c.Samples.Should().Be(30);
        c.Hottest!.SelfMs.Should().Be(60);
    }

    [Fact]
    public void Without_position_ticks_a_function_shows_its_definition_line()
    {
        var withTicks = Node(2, "f", "file:///srv/app/x.js", 9, 2, ticks: """{"line":12,"ticks":3},{"line":14,"ticks":7}""");
        CpuProfileSummary.Read(Profile([Root(2), withTicks], Repeat(2, 10), Ms(10)), appDir: "/srv/app/").Hottest!.Frame.Should().Be("f (x.js:14)");
        var c = CpuProfileSummary.Read(Profile([Root(2), Node(2, "f", "file:///srv/app/x.js", 9, 2)], Repeat(2, 10), Ms(10)), appDir: "/srv/app");
        c.Hottest!.HotLine.Should().Be(0);
        c.Hottest.Frame.Should().Be("f (x.js:10)");
    }

    [Fact]
    public void Recursion_counts_once_in_total_time_and_the_stack_skips_the_root()
    {
        var c = CpuProfileSummary.Read(Profile(
            [Root(2), Node(2, "main", "/a.js", 0, 0, [3]), Node(3, "f", "/a.js", 4, 0, [4]), Node(4, "f", "/a.js", 4, 0, [5]), Node(5, "f", "/a.js", 4, 0)],
            [.. Repeat(3, 2), .. Repeat(5, 8)], Ms(10)));
        var f = c.Hottest!;
        f.SelfMs.Should().Be(10);
        f.TotalMs.Should().Be(10);
        f.TotalPercent.Should().BeApproximately(100, 0.01);
        f.Stack.Should().Equal("f (/a.js:5)", "f (/a.js:5)", "f (/a.js:5)", "main (/a.js:1)");
    }

    [Fact]
    public void Files_print_unescaped_and_relative_to_the_app_or_from_node_modules()
    {
        var c = CpuProfileSummary.Read(Profile(
            [Root(2, 3), Node(2, "", "file:///srv/my%20app/src/a.js", 2, 0), Node(3, "parse", "file:///srv/other/node_modules/qs/lib/parse.js", 40, 0)],
            [.. Repeat(2, 6), .. Repeat(3, 4)], Ms(10)), appDir: "/srv/my app");
        c.Top.Select(f => f.Frame).Should().Equal("(anonymous) (src/a.js:3)", "parse (node_modules/qs/lib/parse.js:41)");
    }

    private const string AnonUrl = "file:///srv/app/app.js";

    private static MemoryStream AnonProfile() => Profile(
        [Root(2), Node(2, "", AnonUrl, 0, 0, [3, 4]), Node(3, "", AnonUrl, 9, 20), Node(4, "", AnonUrl, 19, 20)],
        [.. Repeat(3, 10), .. Repeat(4, 90)], Ms(100));

    private static MemoryStream Sidecar(string stacks, string extra = "") => Json(
        $$"""{"kind":"stall","pid":42,"instance":1,"at":"2026-12-03T01:02:03.456Z","blocked_ms":812,"window_ms":2987,"profile":"stall-1-42-1.cpuprofile"{{extra}},"stacks":{{stacks}}}""");

    private static string Frame(string fn, string url, int line) => $$"""{"function":"{{fn}}","url":"{{url}}","line":{{line}},"column":5}""";

    [Fact]
    public void An_anonymous_paused_frame_matches_the_anonymous_function_that_encloses_its_line()
    {
        var stack = $"[[{Frame("", AnonUrl, 22)},{Frame("", AnonUrl, 40)}]]";
        var s = CpuProfileSummary.ReadStall(Sidecar(stack), AnonProfile(), "/srv/app");
        s.Frame.Should().Be("(anonymous) (app.js:22)");
        s.CalledFrom.Should().Be("(anonymous) (app.js:40)");
        s.SharePercent.Should().BeApproximately(90, 0.01, "the function defined on line 20, not the one on line 10");
        s.CountedAs.Should().BeNull();
        s.Headline().Should().Be("blocked in (anonymous) (app.js:22) called from (anonymous) (app.js:40): 90 % of 100 ms of samples");
        (s.Pid, s.Instance, s.BlockedMs, s.WindowMs, s.At).Should().Be((42L, 1L, 812L, 2987L, "2026-12-03T01:02:03.456Z"));
    }

    [Fact]
    public void A_native_on_top_is_named_and_called_from_the_first_frame_in_a_user_file()
    {
        var top = $"[{Frame("parse", "", 0)},{Frame("readConfig", "node:internal/x", 3)},{Frame("load", "/srv/app/app.js", 7)}]";
        var other = $"[{Frame("load", "/srv/app/app.js", 8)}]";
        var s = CpuProfileSummary.ReadStall(Sidecar($"[{top},{top},{other}]"), null, "/srv/app");
        s.Headline().Should().Be("blocked in parse called from load (app.js:7): in 2 of 3 pauses");
    }

    [Fact]
    public void A_bad_profile_is_reported_and_the_pauses_still_speak()
    {
        var s = CpuProfileSummary.ReadStall(Sidecar($"[[{Frame("spin", "/a.js", 3)}]]"), Json("{\"nodes\":"), null);
        s.ProfileProblem.Should().StartWith("CPU profile is not valid JSON");
        s.Headline().Should().Be("blocked in spin (/a.js:3): in 1 of 1 pauses");
        s.Evidence().Should().Contain(l => l.StartsWith("profile not used: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_stacks_the_profile_names_the_function_and_with_neither_the_summary_says_so()
    {
        var fromProfile = CpuProfileSummary.ReadStall(Sidecar("[]"), AnonProfile(), "/srv/app");
        fromProfile.Frame.Should().Be("(anonymous) (app.js:20)");
        fromProfile.SharePercent.Should().BeApproximately(90, 0.01);

        var idle = CpuProfileSummary.ReadStall(Sidecar("[]"), Profile([Root(2), Node(2, "(idle)")], Repeat(2, 5), Ms(5)));
        idle.ProfileProblem.Should().Be("it has no busy samples");
        idle.Headline().Should().Be("blocked 812 ms: no stack or profile captured");
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"nodes\":[{\"id\":1,\"callFrame\":")]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"traceEvents\":[]}")]
    [InlineData("{\"nodes\":[]}")]
    [InlineData("{\"nodes\":[{\"callFrame\":{}}]}")]
    [InlineData("{\"nodes\":[{\"id\":1}]}")]
    [InlineData("{\"nodes\":[{\"id\":1,\"callFrame\":{}},{\"id\":1,\"callFrame\":{}}]}")]
    public void What_is_not_a_profile_is_invalid_data_with_a_one_line_message(string text)
    {
        var read = () => CpuProfileSummary.Read(Json(text));
        read.Should().Throw<InvalidDataException>().Which.Message.Should().NotContain("\n");
    }

    [Fact]
    public void Too_large_a_profile_or_a_bad_sidecar_is_invalid_data()
    {
        var big = () => CpuProfileSummary.Read(AnonProfile(), maxBytes: 100);
        big.Should().Throw<InvalidDataException>().WithMessage("CPU profile is larger than 100 bytes");
        var notStall = () => CpuProfileSummary.ReadStall(Json("{\"kind\":\"heap\"}"), null);
        notStall.Should().Throw<InvalidDataException>().WithMessage("not a stall report: kind is \"heap\"");
        var badStacks = () => CpuProfileSummary.ReadStall(Sidecar("{}"), null);
        badStacks.Should().Throw<InvalidDataException>();
        var truncated = () => CpuProfileSummary.ReadStall(Json("{\"kind\":\"stall\",\"stacks\":[["), null);
        truncated.Should().Throw<InvalidDataException>().Which.Message.Should().StartWith("stall report is not valid JSON");
    }

    [Theory, MemberData(nameof(Nodes))]
    public void The_summaries_round_trip_through_source_generated_json(string node)
    {
        var s = RealStall(node);
        var json = JsonSerializer.Serialize(s, SummaryJson.Default.StallSummary);
        var back = JsonSerializer.Deserialize(json, SummaryJson.Default.StallSummary)!;
        back.Evidence().Should().Equal(s.Evidence());
    }
}

[JsonSerializable(typeof(StallSummary))]
[JsonSerializable(typeof(CpuSummary))]
internal sealed partial class SummaryJson : JsonSerializerContext;
