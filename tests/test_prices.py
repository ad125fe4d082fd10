from generator.aws.prices import bundled_prices

PRICES = bundled_prices()


def cost(volume_type, size, iops=None, throughput=None, region="us-east-1"):
    return PRICES.volume_cost(
        region=region,
        volume_type=volume_type,
        size_gib=size,
        iops=iops,
        throughput_mibps=throughput,
    )


def test_size_only_types():
    assert cost("gp2", 100).monthly_usd == 10.0
    assert cost("st1", 500).monthly_usd == 22.5
    assert cost("sc1", 1000).monthly_usd == 15.0
    assert cost("standard", 10).monthly_usd == 0.5


def test_gp3_bills_only_iops_and_throughput_above_the_included_baseline():
    assert cost("gp3", 100, iops=3000, throughput=125).monthly_usd == 8.0
    # 3000 extra IOPS x 0.005 + 375 extra MiB/s x 0.04
    assert cost("gp3", 1000, iops=6000, throughput=500).monthly_usd == 80 + 15 + 15


def test_io1_and_io2_provisioned_iops():
    assert cost("io1", 500, iops=5000).monthly_usd == 62.5 + 325
    # io2 tiers: 32,000 x 0.065 + 32,000 x 0.0455 + 6,000 x 0.032
    assert cost("io2", 100, iops=70000).monthly_usd == round(12.5 + 2080 + 1456 + 192, 2)


def test_other_regions_are_marked_estimated_and_say_so():
    priced = cost("gp2", 100, region="eu-west-1")
    assert priced.estimated and priced.price_region == "us-east-1"
    assert "eu-west-1 may differ" in priced.basis
    assert not cost("gp2", 100).estimated


def test_unknown_type_is_zero_and_estimated_not_an_exception():
    priced = cost("io9", 100)
    assert priced.monthly_usd == 0.0 and priced.estimated
    assert "io9" in priced.basis


def test_price_table_states_its_source_and_region():
    assert PRICES.region == "us-east-1"
    assert PRICES.source and PRICES.compiled
