/** The server's tipping settings (GET /tips/config), shared by the tip dialog and every Tip button. */
import { useQuery } from "@tanstack/react-query";
import { call } from "../../api/client";
import { useServices } from "../../app/services";

export const tipConfigKey = ["tips", "config"] as const;

export function useTipConfig() {
  const { api } = useServices();
  return useQuery({ queryKey: tipConfigKey, queryFn: () => call(api.GET("/tips/config")), staleTime: 5 * 60_000 });
}

/**
 * Whether to offer Tip at all: only once the server has said tipping is on. A server without a
 * TipJar contract (TIP_CONTRACT_ADDRESS unset) answers `enabled: false`, and its users never see a
 * button that could only lead to "not set up".
 */
export function useTippingEnabled(): boolean {
  return useTipConfig().data?.enabled === true;
}
