//! The checks of every optimiser and penalty setting a user can get wrong.

use super::{
    ArchitectureOptimizerConfig, BudgetOf, CostPenalty, PenaltySchedule, WeightOptimizerConfig,
};
use crate::cost::EdgeCostKind;
use crate::{Error, Result};

/// An [`Error::InvalidConfig`] for `field`.
pub(super) fn bad(field: &str, reason: &str) -> Result<()> {
    Err(Error::config(field, reason))
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

pub(super) fn non_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

impl WeightOptimizerConfig {
    /// Checks the learning rate, momentum, decay, poly power and multipliers.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field (`weights.*`).
    pub fn validate(&self) -> Result<()> {
        if !positive(self.learning_rate) {
            return bad("weights.learning_rate", "must be finite and positive");
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("weights.momentum", "must lie in [0, 1)");
        }
        for (field, v) in [
            ("weights.weight_decay", self.weight_decay),
            ("weights.poly_power", self.poly_power),
            ("weights.backbone_multiplier", self.backbone_multiplier),
            (
                "weights.classifier_weight_multiplier",
                self.classifier_weight_multiplier,
            ),
            (
                "weights.classifier_bias_multiplier",
                self.classifier_bias_multiplier,
            ),
            ("weights.fusion_multiplier", self.fusion_multiplier),
        ] {
            if !non_negative(v) {
                return bad(field, "must be finite and non-negative");
            }
        }
        Ok(())
    }
}

impl ArchitectureOptimizerConfig {
    /// Checks Adam's learning rate, betas, epsilon and decay.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field (`architecture.*`).
    pub fn validate(&self) -> Result<()> {
        if !positive(self.learning_rate) {
            return bad("architecture.learning_rate", "must be finite and positive");
        }
        for (field, v) in [
            ("architecture.beta1", self.beta1),
            ("architecture.beta2", self.beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(field, "must lie in [0, 1)");
            }
        }
        if !positive(self.epsilon) {
            return bad("architecture.epsilon", "must be finite and positive");
        }
        if !non_negative(self.weight_decay) {
            return bad(
                "architecture.weight_decay",
                "must be finite and non-negative",
            );
        }
        Ok(())
    }
}

impl CostPenalty {
    /// Checks the weight, the schedule's warm-up and the budget.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field (`cost_penalty.*`).
    pub fn validate(&self) -> Result<()> {
        if !non_negative(self.weight) {
            return bad("cost_penalty.weight", "must be finite and non-negative");
        }
        if let PenaltySchedule::Warmup(fraction) = self.schedule
            && !(0.0..1.0).contains(&fraction)
        {
            return bad(
                "cost_penalty.schedule",
                "a warm-up fraction must lie in [0, 1)",
            );
        }
        if let Some(b) = self.budget
            && !(b > 0.0 && b <= 1.0)
        {
            return bad(
                "cost_penalty.budget",
                "must lie in (0, 1]: a fraction of what all candidate edges cost",
            );
        }
        if self.budget.is_some()
            && self.budget_of == BudgetOf::AllEdgesFusionMacs
            && self.edge_cost != EdgeCostKind::Macs
        {
            return bad(
                "cost_penalty.budget_of",
                "a budget on fusion MACs needs edges priced by their MACs (EdgeCostKind::Macs)",
            );
        }
        Ok(())
    }
}
