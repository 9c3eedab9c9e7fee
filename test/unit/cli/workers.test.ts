import { describe, expect, it } from 'vitest';
import { sumPrometheusText } from '../../../src/cli/workers.js';

describe('sumPrometheusText (metrics of --workers)', () => {
  it('adds series with the same name and labels, keeps HELP/TYPE once and families grouped', () => {
    const a = '# HELP x_total X.\n# TYPE x_total counter\nx_total{mode="a"} 2\n# TYPE g gauge\ng 1\n';
    const b = '# HELP x_total X.\n# TYPE x_total counter\nx_total{mode="a"} 3\nx_total{mode="b"} 1\n# TYPE g gauge\ng 4\n';
    expect(sumPrometheusText([a, b])).toBe('# HELP x_total X.\n# TYPE x_total counter\nx_total{mode="a"} 5\nx_total{mode="b"} 1\n# TYPE g gauge\ng 5\n');
  });

  it('sums histogram buckets, counts and sums', () => {
    const h = '# TYPE d histogram\nd_bucket{le="0.1"} 1\nd_bucket{le="+Inf"} 2\nd_sum 0.5\nd_count 2\n';
    expect(sumPrometheusText([h, h])).toBe('# TYPE d histogram\nd_bucket{le="0.1"} 2\nd_bucket{le="+Inf"} 4\nd_sum 1\nd_count 4\n');
  });
});
