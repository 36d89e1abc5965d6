using NodeKeeper.Core.Metrics;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Tests.Metrics;

public class PrometheusTextTests
{
    private static InstanceInfo Online(string name, int instance) => new()
    {
        Name = name, Instance = instance, Status = "online", Ready = true, Pid = 100 + instance, Restarts = 3, UptimeMs = 12_500,
        CpuPercent = 12.5, MemoryBytes = 50_000_000, HeapUsedBytes = 10_000_000, HeapLimitBytes = 2_000_000_000,
        EventLoopLagMs = 10.5, OpenFiles = 20, MaxOpenFiles = 1024,
    };

    private static InstanceInfo Down(string name, int instance) => new() { Name = name, Instance = instance, Status = "stopped" };

    private static List<string> Samples(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).ToList();

    [Fact]
    public void Writes_help_type_and_one_sample_per_instance_with_base_units()
    {
        var text = PrometheusText.Format([Online("api", 0), Online("api", 1)], [new AppCount("api", 2)], "1.2.3");

        text.Should().Contain("# HELP nodekeeper_instance_up ").And.Contain("# TYPE nodekeeper_instance_up gauge\n");
        text.Should().Contain("# TYPE nodekeeper_instance_restarts_total counter\n");
        text.Should().Contain("nodekeeper_daemon_info{version=\"1.2.3\"} 1\n");
        text.Should().Contain("nodekeeper_app_instances{app=\"api\"} 2\n");
        text.Should().Contain("nodekeeper_app_ready_instances{app=\"api\"} 2\n");
        text.Should().Contain("nodekeeper_instance_up{app=\"api\",instance=\"1\"} 1\n");
        text.Should().Contain("nodekeeper_instance_restarts_total{app=\"api\",instance=\"0\"} 3\n");
        text.Should().Contain("nodekeeper_instance_cpu_percent{app=\"api\",instance=\"0\"} 12.5\n");
        text.Should().Contain("nodekeeper_instance_memory_bytes{app=\"api\",instance=\"0\"} 50000000\n");
        text.Should().Contain("nodekeeper_instance_heap_limit_bytes{app=\"api\",instance=\"0\"} 2000000000\n");
        text.Should().Contain("nodekeeper_instance_event_loop_lag_seconds{app=\"api\",instance=\"0\"} 0.0105\n");
        text.Should().Contain("nodekeeper_instance_uptime_seconds{app=\"api\",instance=\"0\"} 12.5\n");
        text.Should().Contain("nodekeeper_instance_max_open_files{app=\"api\",instance=\"1\"} 1024\n");
        text.Should().EndWith("\n");
        Samples(text).Where(l => l.StartsWith("nodekeeper_instance_up{")).Should().HaveCount(2);
    }

    [Fact]
    public void Every_sample_follows_the_type_line_of_its_family()
    {
        var http = new HttpOutcomes { Class2xx = 1, Buckets = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], SumMs = 1 };
        var text = PrometheusText.Format([Online("a", 0) with { Http = http }, Down("b", 0)], [new AppCount("a", 1), new AppCount("b", 1)], "0.1.0");
        string? typed = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ")) { typed = line.Split(' ')[2]; continue; }
            if (line.StartsWith('#')) continue;
            var name = line[..line.IndexOf('{')];
            if (typed is not null && typed.EndsWith("_seconds") && name != typed)
                name.Should().BeOneOf(typed + "_bucket", typed + "_sum", typed + "_count");
            else name.Should().Be(typed, line);
        }
    }

    [Fact]
    public void Http_responses_are_a_counter_by_class_and_their_durations_a_cumulative_histogram()
    {
        var http = new HttpOutcomes
        {
            Class2xx = 90, Class3xx = 2, Class4xx = 3, Class5xx = 4, Incomplete = 1, P50Ms = 3, P99Ms = 40,
            Buckets = [50, 20, 10, 10, 5, 2, 1, 1, 0, 0, 0, 0], SumMs = 1234.5,
        };
        var text = PrometheusText.Format([Online("api", 0) with { Http = http }, Down("api", 1)], [new AppCount("api", 2)], "1.2.3");

        text.Should().Contain("# TYPE nodekeeper_http_requests_total counter\n");
        text.Should().Contain("nodekeeper_http_requests_total{app=\"api\",instance=\"0\",class=\"2xx\"} 90\n");
        text.Should().Contain("nodekeeper_http_requests_total{app=\"api\",instance=\"0\",class=\"5xx\"} 4\n");
        text.Should().Contain("nodekeeper_http_requests_total{app=\"api\",instance=\"0\",class=\"incomplete\"} 1\n");
        text.Should().Contain("# TYPE nodekeeper_http_request_duration_seconds histogram\n");
        text.Should().Contain("nodekeeper_http_request_duration_seconds_bucket{app=\"api\",instance=\"0\",le=\"0.005\"} 50\n");
        text.Should().Contain("nodekeeper_http_request_duration_seconds_bucket{app=\"api\",instance=\"0\",le=\"0.01\"} 70\n");
        text.Should().Contain("nodekeeper_http_request_duration_seconds_bucket{app=\"api\",instance=\"0\",le=\"+Inf\"} 99\n");
        text.Should().Contain("nodekeeper_http_request_duration_seconds_sum{app=\"api\",instance=\"0\"} 1.2345\n");
        text.Should().Contain("nodekeeper_http_request_duration_seconds_count{app=\"api\",instance=\"0\"} 99\n");
        Samples(text).Should().NotContain(l => l.Contains("instance=\"1\"") && l.StartsWith("nodekeeper_http"), "a stopped instance has no process to count");
    }

    [Fact]
    public void Unknown_values_are_left_out_and_a_down_instance_is_0()
    {
        var text = PrometheusText.Format([Down("b", 0)], [new AppCount("b", 1)], "0.1.0");

        text.Should().Contain("nodekeeper_instance_up{app=\"b\",instance=\"0\"} 0\n");
        text.Should().Contain("nodekeeper_instance_restarts_total{app=\"b\",instance=\"0\"} 0\n");
        text.Should().Contain("nodekeeper_app_ready_instances{app=\"b\"} 0\n");
        foreach (var family in new[] { "cpu_percent", "memory_bytes", "heap_used_bytes", "heap_limit_bytes", "event_loop_lag_seconds", "open_files", "max_open_files" })
            Samples(text).Should().NotContain(l => l.StartsWith($"nodekeeper_instance_{family}{{"), family);
        text.Should().Contain("# TYPE nodekeeper_instance_cpu_percent gauge\n", "a family without samples still declares itself");
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a\\b", "a\\\\b")]
    [InlineData("say \"hi\"", "say \\\"hi\\\"")]
    [InlineData("two\nlines", "two\\nlines")]
    [InlineData("\\\"\n", "\\\\\\\"\\n")]
    public void Label_values_escape_backslash_quote_and_newline(string raw, string escaped) =>
        PrometheusText.EscapeLabelValue(raw).Should().Be(escaped);

    [Fact]
    public void Escaped_label_values_appear_in_samples()
    {
        var text = PrometheusText.Format([Down("we\"ird\\name\n", 0)], [], "v\"1");
        text.Should().Contain("nodekeeper_instance_up{app=\"we\\\"ird\\\\name\\n\",instance=\"0\"} 0\n");
        text.Should().Contain("nodekeeper_daemon_info{version=\"v\\\"1\"} 1\n");
        text.Split('\n').Should().OnlyContain(l => l.Length == 0 || l.StartsWith('#') || l.StartsWith("nodekeeper_"), "no raw newline splits a sample");
    }

    [Fact]
    public void Help_escapes_backslash_and_newline_but_not_quotes() =>
        PrometheusText.EscapeHelp("a\\b\n\"c\"").Should().Be("a\\\\b\\n\"c\"");

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(42.0, "42")]
    [InlineData(-3.0, "-3")]
    [InlineData(0.25, "0.25")]
    [InlineData(1e-7, "1E-07")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    public void Values_use_invariant_formatting(double value, string text) =>
        PrometheusText.FormatValue(value).Should().Be(text);

    [Fact]
    public void Values_parse_back_as_go_floats_would()
    {
        foreach (var v in new[] { 0.1, 123456.789, 1e20, 9.9e-5 })
            double.Parse(PrometheusText.FormatValue(v), System.Globalization.CultureInfo.InvariantCulture).Should().Be(v);
    }
}
